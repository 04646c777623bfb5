-- kill.lua: pending | running -> killed | stopped, without a token (the controller or a user).
-- The agent holding a running trial finds out on its next renew/report and stops.
-- KEYS[1] trial hash
-- KEYS[2] trial lease
-- KEYS[3] running set
-- KEYS[4] controller events stream
-- KEYS[5] sweep hash (state counters)
-- ARGV[1] the new state: 'killed' | 'stopped'
-- ARGV[2] trial id
-- ARGV[3] reason, kept as the trial's error text ('' = none)
-- ARGV[4] events stream MAXLEN (approximate)
-- Returns {'ok', old state} | {'refused', why} | {'missing'}
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then
  return {'missing'}
end
if cur ~= 'pending' and cur ~= 'running' then
  return {'refused', 'it is ' .. cur}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'finished_ms', now)
redis.call('HDEL', KEYS[1], 'token', 'lease_until', 'last_report') -- see finish.lua
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'error', ARGV[3])
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[2])
redis.call('HINCRBY', KEYS[5], 'n_' .. cur, -1)
redis.call('HINCRBY', KEYS[5], 'n_' .. ARGV[1], 1)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 'type', 'finish', 'trial', ARGV[2],
  'state', ARGV[1])
return {'ok', cur}
