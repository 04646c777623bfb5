-- reap.lua: running -> crashed, only when the trial's lease key is gone (its agent stopped
-- renewing). Tells the controller with a "crash" event.
-- KEYS[1] trial hash
-- KEYS[2] trial lease
-- KEYS[3] running set
-- KEYS[4] controller events stream
-- KEYS[5] sweep hash (state counters)
-- ARGV[1] trial id
-- ARGV[2] error text for the trial
-- ARGV[3] events stream MAXLEN (approximate)
-- Returns 1 (crashed) | 0 (not running, or its lease is alive)
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'state', 'crashed', 'finished_ms', now, 'error', ARGV[2])
redis.call('HDEL', KEYS[1], 'token', 'last_report') -- see finish.lua; lease_until says since when
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[5], 'n_running', -1)
redis.call('HINCRBY', KEYS[5], 'n_crashed', 1)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'type', 'crash', 'trial', ARGV[1])
return 1
