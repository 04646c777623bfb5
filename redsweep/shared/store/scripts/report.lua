-- report.lua: a running trial's logged rows, one or more (token-checked; no state change).
-- Every row sets the summary and counts for the trial's and the sweep's best value of the
-- sweep metric by goal; the lease is renewed (its deadline kept as the trial's 'lease_until',
-- as renew.lua) and the controller told (one event for the whole batch), unless the rows are
-- a trial's last, sent with its finish (ARGV[10]): its finish renews nothing and its event
-- tells the controller all that one for the rows would have. The history is one
-- string of packed entries (KEYS[4]: per row its step, then the row, two msgpack values;
-- added at its end, so a trial's rows cost their bytes and no per-row overhead). It is capped
-- by thinning: row n (0, 1, 2, ... counted on the trial as 'history_rows') is stored when n is a
-- multiple of the trial's 'history_stride' k (1 at first, the field written once it is not);
-- when the stored rows reach the cap the string is rewritten with every other entry (rows 0,
-- 2k, 4k, ...) and k doubles. The latest row, when not stored, is kept in KEYS[7] (deleted
-- when the latest row is stored), so the first and the latest rows are always there.
-- KEYS[1] trial hash
-- KEYS[2] trial lease
-- KEYS[3] trial summary hash
-- KEYS[4] trial history (string: packed entries)
-- KEYS[5] controller events stream
-- KEYS[6] sweep hash (best_value, best_trial)
-- KEYS[7] trial latest row (hash: step, row; only while the latest row is not stored)
-- ARGV[1] token
-- ARGV[2] lease in ms
-- ARGV[3] goal: 'minimize' | 'maximize'
-- ARGV[4] trial id
-- ARGV[5] events stream MAXLEN (approximate)
-- ARGV[6] report id (random, per call: a retried call with the same id is applied once)
-- ARGV[7] history cap: rows stored at most (>= 2)
-- ARGV[8] a warning about the trial's rows ('' = none): kept on the trial as 'warning' (the
--         first one only)
-- ARGV[9] how many rows follow
-- ARGV[10] '1' = the trial's last rows, its finish next in the same round trip: no lease
--          renewal and no event; '' = a report while it runs
-- ARGV[11..] per row: step, the row (packed), the sweep metric's value in it (a finite number;
--           '' = not in the row), n = how many pairs follow, then n pairs: metric name,
--           packed value (the summary)
-- Returns {1, stop_requested (0|1), packed stop reason or ''} | {0, 0, '', state, attempt}
--         (not the holder: nothing written; the trial's state and attempt now, '' when there
--         is no trial)
local tr = redis.call('HMGET', KEYS[1], 'state', 'token', 'best', 'stop_requested',
  'stop_reason', 'last_report', 'attempt', 'history_rows', 'history_stride')
if tr[1] ~= 'running' or tr[2] ~= ARGV[1] then
  return {0, 0, '', tr[1] or '', tr[7] or ''}
end
if tr[6] == ARGV[6] then
  return {1, tonumber(tr[4] or '0') or 0, tr[5] or ''}
end
local function renew_lease()
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  redis.call('HSET', KEYS[1], 'lease_until', now + tonumber(ARGV[2]))
end
local function better(a, b)
  if ARGV[3] == 'maximize' then
    return a > b
  end
  return a < b
end
local cap = math.max(2, tonumber(ARGV[7]))
local n = tonumber(tr[8] or '0') or 0
local old_stride = tonumber(tr[9] or '1') or 1
local stride = old_stride
-- the rows kept are those whose index is a multiple of the stride
local stored = math.ceil(n / stride)
local stored_before = stored -- 0: the history string is not there yet (thin() sets it)
local appended = {} -- entries of this batch for the end of KEYS[4]
local latest = nil -- the batch's last row when the packed rows do not hold it: {step, row}
local function thin()
  local blob = (redis.call('GET', KEYS[4]) or '') .. table.concat(appended)
  local kept, o, p = {}, 0, 0
  while o >= 0 and o < #blob do
    local start = o
    o = cmsgpack.unpack_one(blob, o) -- the step
    if o < 0 then
      break
    end
    o = cmsgpack.unpack_one(blob, o) -- the row
    if p % 2 == 0 then
      kept[#kept + 1] = string.sub(blob, start + 1, o < 0 and #blob or o)
    end
    p = p + 1
  end
  redis.call('SET', KEYS[4], table.concat(kept))
  appended = {}
  stored_before = #kept
  stored = #kept
  stride = stride * 2
  return p % 2 == 1 -- the last entry was kept
end
local final = ARGV[10] == '1'
local i = 11
local step = nil
local best, best_text = nil, nil
for _ = 1, tonumber(ARGV[9]) do
  step = ARGV[i]
  if n % stride == 0 then
    appended[#appended + 1] = cmsgpack.pack(tonumber(step)) .. ARGV[i + 1]
    stored = stored + 1
    latest = nil
    local kept = true
    while stored >= cap do -- once, unless an earlier call had a larger cap
      kept = thin() and kept
    end
    if not kept then
      latest = {step, ARGV[i + 1]}
    end
  else
    latest = {step, ARGV[i + 1]}
  end
  n = n + 1
  local value = tonumber(ARGV[i + 2])
  if value ~= nil and (best == nil or better(value, best)) then
    best, best_text = value, ARGV[i + 2]
  end
  local pairs_end = i + 3 + 2 * tonumber(ARGV[i + 3])
  for j = i + 4, pairs_end, 400 do -- one HSET per 200 pairs (unpack's stack is bounded)
    redis.call('HSET', KEYS[3], unpack(ARGV, j, math.min(j + 399, pairs_end)))
  end
  i = pairs_end + 1
end
if ARGV[8] ~= '' then
  redis.call('HSETNX', KEYS[1], 'warning', ARGV[8])
end
if step == nil then
  if not final then
    renew_lease()
  end
  return {1, tonumber(tr[4] or '0') or 0, tr[5] or ''}
end
if #appended > 0 then
  -- APPEND grows a string to twice what it needs (Redis' greedy growth): a short history is
  -- written whole instead (SET allocates it exactly), a long one appended (no copying of it)
  local add = table.concat(appended)
  if stored_before == 0 then -- the first rows: nothing to read
    redis.call('SET', KEYS[4], add)
  elseif redis.call('STRLEN', KEYS[4]) + #add <= 8192 then
    redis.call('SET', KEYS[4], (redis.call('GET', KEYS[4]) or '') .. add)
  else
    redis.call('APPEND', KEYS[4], add)
  end
end
local fields = {'last_step', step, 'last_report', ARGV[6], 'history_rows', n}
if not final then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  fields[#fields + 1] = 'lease_until'
  fields[#fields + 1] = now + tonumber(ARGV[2])
end
local function field(name, value)
  fields[#fields + 1] = name
  fields[#fields + 1] = value
end
if stride ~= old_stride then
  field('history_stride', stride)
end
if latest ~= nil then
  redis.call('HSET', KEYS[7], 'step', latest[1], 'row', latest[2])
elseif stride > 1 then
  redis.call('DEL', KEYS[7])
end
if best ~= nil then
  local trial_best = tonumber(tr[3] or '')
  if trial_best == nil or better(best, trial_best) then
    field('best', best_text)
  end
  local sweep_best = tonumber(redis.call('HGET', KEYS[6], 'best_value') or '')
  if sweep_best == nil or better(best, sweep_best) then
    redis.call('HSET', KEYS[6], 'best_value', best_text, 'best_trial', ARGV[4])
  end
end
if not final then
  if best ~= nil then
    redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'type', 'report', 'trial', ARGV[4],
      'step', step, 'value', best_text)
  else
    redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'type', 'report', 'trial', ARGV[4],
      'step', step)
  end
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
end
redis.call('HSET', KEYS[1], unpack(fields))
return {1, tonumber(tr[4] or '0') or 0, tr[5] or ''}
