-- release.lua: running -> pending, for a trial its agent claimed but never started (it took
-- the trial along with finishing the one before, then was told to stop). Only with the
-- current token and before any report; the queue entry goes back to the head of the queue,
-- so the trial runs elsewhere as the same attempt.
-- KEYS[1] trial hash
-- KEYS[2] trial lease
-- KEYS[3] sweep hash (state counters)
-- KEYS[4] running set
-- KEYS[5] controller events stream
-- KEYS[6] sweep queue (list)
-- KEYS[7] the agent's in-flight list
-- ARGV[1] token
-- ARGV[2] trial id
-- ARGV[3] the trial's queue entry (in the agent's in-flight list)
-- ARGV[4] events stream MAXLEN (approximate)
-- Returns 1 (released) | 0 (not held with this token, or it reported: nothing changed but
--         the entry leaving the in-flight list)
redis.call('LREM', KEYS[7], 1, ARGV[3])
local tr = redis.call('HMGET', KEYS[1], 'state', 'token', 'last_report')
if tr[1] ~= 'running' or tr[2] ~= ARGV[1] or tr[3] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'pending')
redis.call('HDEL', KEYS[1], 'token', 'worker', 'claimed_ms')
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[4], ARGV[2])
redis.call('HINCRBY', KEYS[3], 'n_running', -1)
redis.call('HINCRBY', KEYS[3], 'n_pending', 1)
redis.call('LPUSH', KEYS[6], ARGV[3])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[4], '*', 'type', 'release', 'trial', ARGV[2])
return 1
