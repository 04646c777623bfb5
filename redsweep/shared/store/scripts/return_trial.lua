-- return_trial.lua: put an entry an agent popped but may not start (the sweep is paused,
-- finished or canceled) back at the head of the queue, atomically.
-- KEYS[1] the agent's in-flight list
-- KEYS[2] sweep queue
-- ARGV[1] the entry (raw bytes)
-- Returns 1 (put back) | 0 (it was not in flight: nothing moved)
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then
  return 0
end
redis.call('LPUSH', KEYS[2], ARGV[1])
return 1
