-- renew.lua: extend a running trial's lease (token-checked); no state change.
-- A lease that lapsed before the controller reaped the trial is taken again: the trial hash,
-- not the lease key, says who holds the trial.
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
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return {1, tonumber(tr[3] or '0') or 0, tr[4] or ''}
