-- note_agent.lua: an agent about to pop is listed among those with in-flight lists (so its
-- entries are put back if it dies), only while the sweep exists.
-- KEYS[1] agents with in-flight lists (set)
-- KEYS[2] sweep hash
-- ARGV[1] agent id
-- Returns 1 (listed) | 0 (no such sweep: nothing written)
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
redis.call('SADD', KEYS[1], ARGV[1])
return 1
