-- update_config.lua: replace a sweep's config while no trial of it has started (W&B's
-- `sweep --update`). Trials still pending were suggested from the old config: they are
-- removed with their queue entries; the controller rebuilds its view from the new config.
-- KEYS[1] sweep hash
-- KEYS[2] trials index (zset)
-- KEYS[3] sweep queue
-- KEYS[4..] the hash of each trial in the index (read just before, in ARGV[5..] order)
-- ARGV[1] the new config (packed)
-- ARGV[2] grid_size ('' = none)
-- ARGV[3] run_cap ('' = none)
-- ARGV[4] how many trials the caller saw in the index
-- ARGV[5..] their ids
-- Returns {'ok', removed} | {'started', trial id, its state, the sweep's state} | {'changed'}
--         (trials were added meanwhile: read again) | {'missing'}
local sweep_state = redis.call('HGET', KEYS[1], 'state')
if not sweep_state then
  return {'missing'}
end
if redis.call('ZCARD', KEYS[2]) ~= tonumber(ARGV[4]) then
  return {'changed'}
end
for i = 4, #KEYS do
  local state = redis.call('HGET', KEYS[i], 'state')
  if not state then
    return {'changed'}
  end
  if state ~= 'pending' then
    return {'started', ARGV[i + 1], state, sweep_state}
  end
end
for i = 4, #KEYS do
  redis.call('DEL', KEYS[i])
end
redis.call('DEL', KEYS[2], KEYS[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'config', ARGV[1], 'updated_ms', now, 'issued', 0, 'n_pending', 0)
redis.call('HDEL', KEYS[1], 'done_reason', 'best_value', 'best_trial')
local optional = {[2] = 'grid_size', [3] = 'run_cap'}
for i = 2, 3 do
  if ARGV[i] ~= '' then
    redis.call('HSET', KEYS[1], optional[i], ARGV[i])
  else
    redis.call('HDEL', KEYS[1], optional[i])
  end
end
return {'ok', #KEYS - 3}
