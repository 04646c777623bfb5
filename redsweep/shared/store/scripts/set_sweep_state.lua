-- set_sweep_state.lua: compare-and-set of a sweep's state.
-- Allowed changes (keys.SWEEP_TRANSITIONS; the caller passes the allowed current states):
--   pending  -> running | paused | finished | canceled
--   running  -> paused | finished | canceled
--   paused   -> running | finished | canceled
--   finished -> running (resume) | canceled
--   canceled -> running (resume)
-- Leaving finished or canceled (a resume) clears finished_ms and done_reason: the controller
-- works out afresh whether anything is left to run.
-- KEYS[1] sweep hash
-- ARGV[1] new state
-- ARGV[2] reason ('' = keep the old done_reason)
-- ARGV[3] '1' when the new state is over (SweepState.is_over: finished_ms is set), else '0'
-- ARGV[4] the states that are over, each between spaces (' finished canceled ')
-- ARGV[5] '1': only while no trial is pending or running (a controller finishing the sweep:
--         a retry added meanwhile by `redsweep retry` or an agent keeps it running)
-- ARGV[6..] the states the sweep may be in for the change to happen
-- Returns {'ok', old state} | {'refused', current state} | {'busy', current state}
--       | {'missing'}
-- Setting the state the sweep already has changes nothing and returns {'ok', it} (so a
-- retried call is harmless).
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then
  return {'missing'}
end
if cur == ARGV[1] then
  return {'ok', cur}
end
local allowed = false
for i = 6, #ARGV do
  if ARGV[i] == cur then
    allowed = true
    break
  end
end
if not allowed then
  return {'refused', cur}
end
if ARGV[5] == '1' then
  local n = redis.call('HMGET', KEYS[1], 'n_pending', 'n_running')
  if tonumber(n[1] or '0') > 0 or tonumber(n[2] or '0') > 0 then
    return {'busy', cur}
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updated_ms', now)
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], 'finished_ms', now)
elseif string.find(ARGV[4], ' ' .. cur .. ' ', 1, true) then
  redis.call('HDEL', KEYS[1], 'finished_ms', 'done_reason')
end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'done_reason', ARGV[2])
end
return {'ok', cur}
