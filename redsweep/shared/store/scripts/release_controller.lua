-- release_controller.lua: give the controller lease up (only by its holder at its epoch).
-- KEYS[1] controller lease
-- KEYS[2] sweep hash
-- ARGV[1] holder
-- ARGV[2] epoch
-- Returns 1 (released) | 0 (not held by this holder at this epoch)
if redis.call('HGET', KEYS[2], 'epoch') ~= ARGV[2] then
  return 0
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
