-- renew_controller.lua: extend the controller lease while the epoch is still current.
-- A lease that lapsed with nobody taking over (epoch unchanged) is taken again.
-- KEYS[1] controller lease
-- KEYS[2] sweep hash
-- ARGV[1] holder
-- ARGV[2] epoch
-- ARGV[3] ttl in ms
-- Returns 1 (renewed) | 0 (fenced: another holder or a newer epoch)
if redis.call('HGET', KEYS[2], 'epoch') ~= ARGV[2] then
  return 0
end
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
