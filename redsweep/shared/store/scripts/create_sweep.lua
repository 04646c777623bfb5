-- create_sweep.lua: a new sweep in state "pending", listed in the sweeps index.
-- KEYS[1] sweep hash              redsweep:{S}:sweep
-- KEYS[2] sweeps index (zset)     redsweep:sweeps
-- ARGV[1] sweep id
-- ARGV[2] config (packed)
-- ARGV[3] project  ('' = none)
-- ARGV[4] name     ('' = none)
-- ARGV[5] grid_size ('' = none)
-- ARGV[6] run_cap  ('' = none)
-- Returns {'ok', created_ms} | {'exists'} (the id is taken: pick another).
-- A retried call (same id and config; the reply was lost) returns {'ok', created_ms} again.
if redis.call('EXISTS', KEYS[1]) == 1 then
  local mine = redis.call('HMGET', KEYS[1], 'config', 'created_ms')
  if mine[1] == ARGV[2] then
    return {'ok', tonumber(mine[2])}
  end
  return {'exists'}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'state', 'pending', 'config', ARGV[2],
  'created_ms', now, 'updated_ms', now, 'issued', 0, 'seq', 0, 'epoch', 0)
local optional = {[3] = 'project', [4] = 'name', [5] = 'grid_size', [6] = 'run_cap'}
for i = 3, 6 do
  if ARGV[i] ~= '' then
    redis.call('HSET', KEYS[1], optional[i], ARGV[i])
  end
end
-- scored in microseconds so sweeps created in the same millisecond keep their order
redis.call('ZADD', KEYS[2], tonumber(t[1]) * 1000000 + tonumber(t[2]), ARGV[1])
return {'ok', now}
