-- set_sweep_fields.lua: set fields of a sweep hash, only while the sweep exists (a sweep
-- Redis lost is not brought back as a hash of stray fields).
-- KEYS[1] sweep hash
-- ARGV[1..] pairs: field, value
-- Returns 1 (set) | 0 (no such sweep: nothing written)
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
