-- heartbeat_agent.lua: an agent says it is alive for ttl_ms more (server time).
-- KEYS[1] live agents (zset: agent id -> expiry ms)
-- KEYS[2] the agent's info hash
-- KEYS[3] sweep hash (nothing is written for a sweep that is gone)
-- ARGV[1] agent id
-- ARGV[2] ttl in ms
-- ARGV[3] busy: '1' | '0'
-- ARGV[4] host
-- ARGV[5] how many more trials the agent will start ('' = no limit: no --count)
-- Returns the expiry in ms | -1 (no such sweep: nothing written)
if redis.call('EXISTS', KEYS[3]) == 0 then
  return -1
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], expiry, ARGV[1])
redis.call('HSET', KEYS[2], 'host', ARGV[4], 'busy', ARGV[3], 'seen_ms', now)
redis.call('HSETNX', KEYS[2], 'started_ms', now)
if ARGV[5] == '' then
  redis.call('HDEL', KEYS[2], 'remaining')
else
  redis.call('HSET', KEYS[2], 'remaining', ARGV[5])
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return expiry
