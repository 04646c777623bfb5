-- release_controller.lua: give the controller lease up (only by its holder at its epoch).
-- KEYS[1] controller lease
-- KEYS[2] sweep hash
-- KEYS[3] controller events stream
-- ARGV[1] holder
-- ARGV[2] epoch
-- ARGV[3] '1' = also add a 'wake' event (an entry of no trial), so that the holder's own
--         blocking read of the events returns at once (it is stopping); '' = not
-- ARGV[4] events stream MAXLEN (approximate)
-- Returns 1 (released) | 0 (not held by this holder at this epoch)
if redis.call('HGET', KEYS[2], 'epoch') ~= ARGV[2] then
  return 0
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'type', 'wake')
end
return 1
