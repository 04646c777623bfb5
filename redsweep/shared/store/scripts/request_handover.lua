-- request_handover.lua: a dedicated controller asks an agent's background controller to
-- yield the sweep's lease, only while the sweep exists.
-- KEYS[1] handover key (string: holder, PX ttl)
-- KEYS[2] sweep hash
-- ARGV[1] holder asking
-- ARGV[2] ttl in ms
-- Returns 1 (asked) | 0 (no such sweep: nothing written)
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
