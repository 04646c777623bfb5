-- claim.lua: pending -> running, only for the attempt the queue entry names. Starts the lease.
-- A retried call with the same token (the reply was lost) succeeds again without a change.
-- KEYS[1] trial hash
-- KEYS[2] trial lease (string: token, PX lease_ms; its deadline is kept as the trial's
--         'lease_until', for status to say when a lapsed lease lapsed)
-- KEYS[3] sweep hash (state counters; 'tell_claims' '0': the controller follows no claims, so
--         a claim adds no event)
-- KEYS[4] running set
-- KEYS[5] controller events stream
-- KEYS[6] the claiming agent's info hash ('remaining', see heartbeat_agent.lua)
-- ARGV[1] attempt
-- ARGV[2] worker (agent id)
-- ARGV[3] token (fresh, made by the caller)
-- ARGV[4] lease in ms
-- ARGV[5] trial id
-- ARGV[6] events stream MAXLEN (approximate)
-- ARGV[7] how many more trials the agent will start, this one included ('' = no limit); one
--         less is recorded on the agent when the claim succeeds
-- ARGV[8..] sweep states in which no trial may start (paused, finished, canceled)
-- Returns {'ok', params} | {'refused', why} | {'held', sweep state} (the sweep does not let
--         trials start now: put the entry back) | {'missing'}; params are the trial's packed
--         params, so the agent needs no second round trip to read them
local tr = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'token', 'params')
if not tr[1] then
  return {'missing'}
end
if tr[4] and #tr[4] == 64 then -- the params go on in chunks: params2, params3, ... (add_trial.lua)
  local k = 2
  repeat
    local more = redis.call('HGET', KEYS[1], 'params' .. k) or ''
    tr[4] = tr[4] .. more
    k = k + 1
  until #more < 64
end
if tr[1] == 'running' and tr[3] == ARGV[3] then
  return {'ok', tr[4]}
end
if tr[1] ~= 'pending' then
  return {'refused', 'it is ' .. tr[1]}
end
local sweep = redis.call('HMGET', KEYS[3], 'state', 'tell_claims')
local sweep_state = sweep[1]
for i = 8, #ARGV do
  if sweep_state == ARGV[i] then
    return {'held', sweep_state}
  end
end
if tr[2] ~= ARGV[1] then
  return {'refused', 'it is at attempt ' .. tr[2] .. ', not ' .. ARGV[1]}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'state', 'running', 'token', ARGV[3], 'worker', ARGV[2],
  'claimed_ms', now, 'lease_until', now + tonumber(ARGV[4]))
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
redis.call('SADD', KEYS[4], ARGV[5])
redis.call('HINCRBY', KEYS[3], 'n_pending', -1)
redis.call('HINCRBY', KEYS[3], 'n_running', 1)
if sweep[2] ~= '0' then
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[6], '*', 'type', 'claim', 'trial', ARGV[5],
    'worker', ARGV[2])
end
if ARGV[7] ~= '' and redis.call('EXISTS', KEYS[6]) == 1 then
  redis.call('HSET', KEYS[6], 'remaining', math.max(0, tonumber(ARGV[7]) - 1))
end
return {'ok', tr[4]}
