-- requeue_agent.lua: put an agent's in-flight entries back at the head of the queue (oldest
-- first) and forget the agent. Without force, only when the agent's liveness has expired.
-- KEYS[1] the agent's in-flight list
-- KEYS[2] sweep queue
-- KEYS[3] live agents (zset: agent id -> expiry ms)
-- KEYS[4] agents with in-flight lists (set)
-- KEYS[5] the agent's info hash
-- ARGV[1] agent id
-- ARGV[2] '1' = force (the agent leaves), '0' = only when it is no longer live
-- Returns the number of entries requeued | -1 (the agent is live: nothing done)
if ARGV[2] ~= '1' then
  local expiry = redis.call('ZSCORE', KEYS[3], ARGV[1])
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if expiry and tonumber(expiry) > now then
    return -1
  end
end
local n = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') do
  n = n + 1
end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('DEL', KEYS[5])
return n
