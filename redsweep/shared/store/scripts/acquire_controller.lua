-- acquire_controller.lua: take the sweep's controller lease and bump its fencing epoch.
-- The same holder asking again (a retried call) keeps its lease and epoch.
-- KEYS[1] controller lease (string: holder, PX ttl)
-- KEYS[2] sweep hash (field 'epoch')
-- ARGV[1] holder
-- ARGV[2] ttl in ms
-- Returns {'ok', epoch} | {'held', holder} | {'missing'}
if redis.call('EXISTS', KEYS[2]) == 0 then
  return {'missing'}
end
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {'ok', redis.call('HGET', KEYS[2], 'epoch')}
end
if cur then
  return {'held', cur}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local epoch = redis.call('HINCRBY', KEYS[2], 'epoch', 1)
redis.call('HSET', KEYS[2], 'controller', ARGV[1])
return {'ok', tostring(epoch)}
