-- request_stop.lua: ask the agent running a trial to stop it (no state change); the agent
-- learns it from its next renew or report. The first reason is kept.
-- KEYS[1] trial hash
-- ARGV[1] reason (packed)
-- Returns 1 (requested, or already requested) | 0 (the trial is not running)
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then
  return 0
end
if redis.call('HGET', KEYS[1], 'stop_requested') ~= '1' then
  redis.call('HSET', KEYS[1], 'stop_requested', 1, 'stop_reason', ARGV[1])
end
return 1
