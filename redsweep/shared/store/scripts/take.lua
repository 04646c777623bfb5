-- take.lua: an agent's next trial in one call: ack the entry it is done with, move the next
-- queue entry into its in-flight list and, when the entry is a trial message of this sweep,
-- claim that trial (claim.lua, included below: the same compare-and-set).
-- KEYS[1] sweep queue (list)
-- KEYS[2] the agent's in-flight list
-- KEYS[3] agents with in-flight lists (set)
-- KEYS[4] sweep hash (state counters)
-- KEYS[5] running set
-- KEYS[6] controller events stream
-- KEYS[7] the agent's info hash (its 'remaining' count, see heartbeat_agent.lua)
-- ARGV[1] the entry to ack ('' = none)
-- ARGV[2] agent id
-- ARGV[3] token for the claim (fresh, made by the caller)
-- ARGV[4] lease in ms
-- ARGV[5] sweep id
-- ARGV[6] wire version of trial messages
-- ARGV[7] the type tag of a trial message
-- ARGV[8] the size limit of a message, in bytes
-- ARGV[9] the length limit of a trial id, in characters
-- ARGV[10] a Lua pattern a trial id matches
-- ARGV[11] key prefix of the sweep's trials: trial T's hash is prefix .. T, its lease
--          prefix .. T .. ':lease' (keys named by the entry, so not in KEYS; they share the
--          sweep's hash tag, so they live in the same cluster slot as KEYS)
-- ARGV[12] events stream MAXLEN (approximate)
-- ARGV[13] how many more trials the agent will start, this one included ('' = no limit; see
--          claim.lua)
-- ARGV[14..] sweep states in which no trial may start (passed on to claim)
-- The rules of a trial message (ARGV[6..10]) are the Python ones (protocol, keys.valid_id):
-- an entry that breaks one is left to the caller, whose decoding says why.
-- Returns {} (the queue is empty, or the sweep is gone: nothing written)
--         | {'claimed', entry, trial id, params} | {'popped', entry}
--         (not claimed here: the caller decodes the entry and claims, returns or
--         dead-letters it as usual)
-- #include claim

if ARGV[1] ~= '' then
  redis.call('LREM', KEYS[2], 1, ARGV[1])
end
if redis.call('EXISTS', KEYS[4]) == 0 then
  return {}
end
redis.call('SADD', KEYS[3], ARGV[2])
local entry = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
if not entry then
  return {}
end
if #entry > tonumber(ARGV[8]) then
  return {'popped', entry}
end
local ok, m = pcall(cmsgpack.unpack, entry)
if not ok or type(m) ~= 'table' or m['v'] ~= tonumber(ARGV[6]) or m['t'] ~= ARGV[7]
    or m['sweep_id'] ~= ARGV[5] or type(m['attempt']) ~= 'number'
    or type(m['trial_id']) ~= 'string' or #m['trial_id'] > tonumber(ARGV[9])
    or not string.match(m['trial_id'], ARGV[10]) then
  return {'popped', entry}
end
local trial_id = m['trial_id']
local args = {tostring(m['attempt']), ARGV[2], ARGV[3], ARGV[4], trial_id, ARGV[12], ARGV[13]}
for i = 14, #ARGV do
  args[#args + 1] = ARGV[i]
end
local reply = claim(
  {ARGV[11] .. trial_id, ARGV[11] .. trial_id .. ':lease', KEYS[4], KEYS[5], KEYS[6], KEYS[7]},
  args)
if reply[1] == 'ok' then
  return {'claimed', entry, trial_id, reply[2]}
end
return {'popped', entry}
