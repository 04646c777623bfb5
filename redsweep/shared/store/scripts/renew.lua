-- renew.lua: extend a running trial's lease (token-checked); no state change.
-- A lease that lapsed before the controller reaped the trial is taken again: the trial hash,
-- not the lease key, says who holds the trial. The lease's deadline is kept on the trial
-- ('lease_until', server ms), so that a lapsed lease can be said to have lapsed since then.
-- KEYS[1] trial hash
-- KEYS[2] trial lease
-- ARGV[1] token
-- ARGV[2] lease in ms
-- Returns {1, stop_requested (0|1), packed stop reason or ''} | {0, 0, '', state, attempt}
--         (not the holder; the trial's state and attempt now, '' when there is no trial)
local tr = redis.call('HMGET', KEYS[1], 'state', 'token', 'stop_requested', 'stop_reason',
  'attempt')
if tr[1] ~= 'running' or tr[2] ~= ARGV[1] then
  return {0, 0, '', tr[1] or '', tr[5] or ''}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[1], 'lease_until', now + tonumber(ARGV[2]))
return {1, tonumber(tr[3] or '0') or 0, tr[4] or ''}
