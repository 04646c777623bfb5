-- dead_letter.lua: move one entry from an agent's in-flight list to the dead letters.
-- KEYS[1] the agent's in-flight list
-- KEYS[2] dead-letter stream
-- ARGV[1] the entry (raw bytes)
-- ARGV[2] reason
-- ARGV[3] agent id
-- ARGV[4] dead-letter stream MAXLEN (approximate)
-- Returns the dead letter's stream id | false (the entry was not in flight: nothing moved)
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then
  return false
end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'raw', ARGV[1],
  'reason', ARGV[2], 'agent', ARGV[3])
