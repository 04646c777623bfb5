-- report.lua: a running trial's log row (token-checked; no state change). Appends the row to
-- the history stream, sets the summary, keeps the trial's and the sweep's best value of the
-- sweep metric by goal, renews the lease and tells the controller.
-- KEYS[1] trial hash
-- KEYS[2] trial lease
-- KEYS[3] trial summary hash
-- KEYS[4] trial history stream
-- KEYS[5] controller events stream
-- KEYS[6] sweep hash (best_value, best_trial)
-- ARGV[1] token
-- ARGV[2] lease in ms
-- ARGV[3] step
-- ARGV[4] the row (packed)
-- ARGV[5] the sweep metric's value in this row, a finite number ('' = not in the row)
-- ARGV[6] goal: 'minimize' | 'maximize'
-- ARGV[7] trial id
-- ARGV[8] events stream MAXLEN (approximate)
-- ARGV[9] report id (random, per call: a retried call with the same id is applied once)
-- ARGV[10..] pairs: metric name, packed value (the summary)
-- Returns {1, stop_requested (0|1), packed stop reason or ''} | {0, 0, '', state} (not the
--         holder; the trial's state now)
local tr = redis.call('HMGET', KEYS[1], 'state', 'token', 'best', 'stop_requested',
  'stop_reason', 'last_report')
if tr[1] ~= 'running' or tr[2] ~= ARGV[1] then
  return {0, 0, '', tr[1] or ''}
end
if tr[6] == ARGV[9] then
  return {1, tonumber(tr[4] or '0') or 0, tr[5] or ''}
end
redis.call('XADD', KEYS[4], '*', 'step', ARGV[3], 'row', ARGV[4])
for i = 10, #ARGV, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 'last_step', ARGV[3], 'last_report', ARGV[9])
local function better(a, b)
  if ARGV[6] == 'maximize' then
    return a > b
  end
  return a < b
end
if ARGV[5] ~= '' then
  local value = tonumber(ARGV[5])
  local best = tonumber(tr[3] or '')
  if best == nil or better(value, best) then
    redis.call('HSET', KEYS[1], 'best', ARGV[5])
  end
  local sweep_best = tonumber(redis.call('HGET', KEYS[6], 'best_value') or '')
  if sweep_best == nil or better(value, sweep_best) then
    redis.call('HSET', KEYS[6], 'best_value', ARGV[5], 'best_trial', ARGV[7])
  end
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[8], '*', 'type', 'report', 'trial', ARGV[7],
    'step', ARGV[3], 'value', ARGV[5])
else
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[8], '*', 'type', 'report', 'trial', ARGV[7],
    'step', ARGV[3])
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return {1, tonumber(tr[4] or '0') or 0, tr[5] or ''}
