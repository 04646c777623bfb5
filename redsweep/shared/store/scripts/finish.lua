-- finish.lua: running -> finished | failed | crashed | killed | stopped, only with the current
-- token. Terminal states never change. Ends the lease and tells the controller.
-- KEYS[1] trial hash
-- KEYS[2] trial lease
-- KEYS[3] trial summary hash
-- KEYS[4] running set
-- KEYS[5] controller events stream
-- KEYS[6] sweep hash (state counters, best_value, best_trial)
-- ARGV[1] token
-- ARGV[2] the final state
-- ARGV[3] error text ('' = none)
-- ARGV[4] log tail ('' = none)
-- ARGV[5] trial id
-- ARGV[6] the sweep metric's final value, a finite number ('' = none)
-- ARGV[7] goal: 'minimize' | 'maximize'
-- ARGV[8] events stream MAXLEN (approximate)
-- ARGV[9..] pairs: metric name, packed value (merged into the summary)
-- The event says the state, how long the trial ran (took_ms) and its best value ('' = none),
-- so that the controller need not read the trial back to say it ended.
-- Returns {'ok'} | {'refused', why} | {'missing'}
-- The same finish again (same token and state: a retried call) returns {'ok'} and changes
-- nothing: a finished trial keeps the token that finished it (kill.lua and reap.lua, which end
-- a trial without one, delete it).
local tr = redis.call('HMGET', KEYS[1], 'state', 'token', 'best', 'claimed_ms')
if not tr[1] then
  return {'missing'}
end
if tr[1] == ARGV[2] and tr[2] == ARGV[1] then
  return {'ok'}
end
if tr[1] ~= 'running' then
  return {'refused', 'it is ' .. tr[1]}
end
if tr[2] ~= ARGV[1] then
  return {'refused', 'the token is not the current one'}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local fields = {'state', ARGV[2], 'finished_ms', now}
local function field(name, value)
  fields[#fields + 1] = name
  fields[#fields + 1] = value
end
if ARGV[3] ~= '' then
  field('error', ARGV[3])
end
if ARGV[4] ~= '' then
  field('log_tail', ARGV[4])
end
for i = 9, #ARGV, 400 do -- one HSET per 200 pairs (unpack's stack is bounded)
  redis.call('HSET', KEYS[3], unpack(ARGV, i, math.min(i + 399, #ARGV)))
end
local trial_best = tr[3] or ''
if ARGV[6] ~= '' then
  local function better(a, b)
    if ARGV[7] == 'maximize' then
      return a > b
    end
    return a < b
  end
  local value = tonumber(ARGV[6])
  local best = tonumber(tr[3] or '')
  if best == nil or better(value, best) then
    field('best', ARGV[6])
    trial_best = ARGV[6]
  end
  local sweep_best = tonumber(redis.call('HGET', KEYS[6], 'best_value') or '')
  if sweep_best == nil or better(value, sweep_best) then
    redis.call('HSET', KEYS[6], 'best_value', ARGV[6], 'best_trial', ARGV[5])
  end
end
redis.call('HSET', KEYS[1], unpack(fields))
-- the lease's deadline and the last report's id matter only while the trial runs
redis.call('HDEL', KEYS[1], 'lease_until', 'last_report')
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[4], ARGV[5])
redis.call('HINCRBY', KEYS[6], 'n_running', -1)
redis.call('HINCRBY', KEYS[6], 'n_' .. ARGV[2], 1)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[8], '*', 'type', 'finish', 'trial', ARGV[5],
  'state', ARGV[2], 'took_ms', now - tonumber(tr[4] or now), 'best', trial_best)
return {'ok'}
