-- add_trials.lua: add_trial.lua for many first attempts in one call (the controller's top-up):
-- each trial is its own compare-and-set, exactly as add_trial.lua adds it, in order.
-- KEYS[1] sweep hash
-- KEYS[2] trials index (zset by seq)
-- KEYS[3] sweep queue (list)
-- KEYS[4] controller events stream
-- KEYS[5..] each trial's hash, in order
-- ARGV[1] controller epoch of the caller
-- ARGV[2] run_cap ('' = the sweep's own run_cap, if any)
-- ARGV[3] events stream MAXLEN (approximate)
-- ARGV[4] how many trials (n)
-- ARGV[5..4+3n] per trial: its id, its params (packed), its queue entry
-- ARGV[5+3n..] sweep states in which no trial may be added (finished, canceled)
-- Returns one add_trial.lua reply per trial, in order, up to and including the first that is
-- neither {'ok', seq} nor {'exists'} ('capped', 'fenced', 'closed', 'missing': the rest
-- would be refused the same way).
-- #include add_trial

local n = tonumber(ARGV[4])
local closed = {}
for i = 5 + 3 * n, #ARGV do
  closed[#closed + 1] = ARGV[i]
end
local out = {}
for i = 1, n do
  local base = 4 + 3 * (i - 1)
  local k = {KEYS[1], KEYS[4 + i], KEYS[2], KEYS[3], KEYS[4 + i], KEYS[4]}
  local a = {ARGV[1], ARGV[base + 1], ARGV[base + 2], '1', '', ARGV[2], ARGV[base + 3], ARGV[3],
    ''}
  for _, state in ipairs(closed) do
    a[#a + 1] = state
  end
  local reply = add_trial(k, a)
  out[#out + 1] = reply
  if reply[1] ~= 'ok' and reply[1] ~= 'exists' then
    return out
  end
end
return out
