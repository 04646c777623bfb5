-- set_summary.lua: values a running trial's own code set on its summary (W&B's run.summary,
-- define_metric's min/max/mean, the run's files), token-checked; no state change.
-- KEYS[1] trial hash
-- KEYS[2] trial summary hash
-- ARGV[1] token
-- ARGV[2..] pairs: name, packed value (merged into the summary)
-- Returns 1 (set) | 0 (not running, or another token holds it: nothing written)
local tr = redis.call('HMGET', KEYS[1], 'state', 'token')
if tr[1] ~= 'running' or tr[2] ~= ARGV[1] then
  return 0
end
for j = 2, #ARGV, 400 do -- one HSET per 200 pairs (unpack's stack is bounded)
  redis.call('HSET', KEYS[2], unpack(ARGV, j, math.min(j + 399, #ARGV)))
end
return 1
