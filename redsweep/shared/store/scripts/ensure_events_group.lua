-- ensure_events_group.lua: the controller's consumer group on the sweep's events stream
-- (the stream made if need be), only while the sweep exists.
-- KEYS[1] controller events stream
-- KEYS[2] sweep hash
-- ARGV[1] group name
-- Returns 1 (made) | 0 (it was there) | -1 (no such sweep: nothing written)
if redis.call('EXISTS', KEYS[2]) == 0 then
  return -1
end
local made = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
if type(made) == 'table' and made.err then
  if string.find(made.err, 'BUSYGROUP', 1, true) then
    return 0
  end
  return redis.error_reply(made.err)
end
return 1
