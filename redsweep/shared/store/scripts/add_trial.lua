-- add_trial.lua: (new) -> pending. Record a trial and push its queue entry, fenced by the
-- controller epoch; first attempts count toward run_cap, retries (attempt > 1) do not.
-- A retry (retry_of given) is added once per trial it retries: the retried trial keeps the
-- id of its retry ('retried_by'; its state never changes), and a second retry of it is refused.
-- So a retry needs no controller epoch (ARGV[1] ''; `redsweep retry`, an agent crashing a
-- lapsed trial): whoever adds it first wins, the others are told 'retried'.
-- KEYS[1] sweep hash
-- KEYS[2] trial hash
-- KEYS[3] trials index (zset by seq)
-- KEYS[4] sweep queue (list)
-- KEYS[5] the retried trial's hash (any key when ARGV[5] is '')
-- KEYS[6] controller events stream (a retry is said there: "retry", for a live controller)
-- ARGV[1] controller epoch of the caller ('' = none: only for a retry)
-- ARGV[2] trial id
-- ARGV[3] params (packed)
-- ARGV[4] attempt (1 = first attempt)
-- ARGV[5] retry_of: the trial this one retries ('' = none)
-- ARGV[6] run_cap ('' = the sweep's own run_cap, if any)
-- ARGV[7] the queue entry: an encoded TrialMessage
-- ARGV[8] events stream MAXLEN (approximate)
-- ARGV[9] the states a retried trial may be in, each between spaces (' crashed failed ')
-- ARGV[10..] sweep states in which no trial may be added (finished, canceled)
-- Returns {'ok', seq} | {'capped'} | {'fenced', current epoch} | {'closed', sweep state}
--       | {'exists'} (trial id taken: pick another) | {'missing'}
--       | {'retried', id of its retry} | {'not_retryable', its state ('' = no such trial)}
-- A retried call (same id, params and attempt; the reply was lost) returns {'ok', seq} again
-- without adding anything.
local sweep = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'run_cap', 'issued')
if not sweep[1] then
  return {'missing'}
end
if ARGV[1] ~= '' and sweep[2] ~= ARGV[1] then
  return {'fenced', sweep[2]}
end
if ARGV[1] == '' and ARGV[5] == '' then
  return {'fenced', sweep[2]}
end
-- Params go in chunks of at most 64 bytes (fields params, params2, params3, ...), so the trial
-- hash keeps Redis' compact listpack encoding (hash-max-listpack-value is 64 by default: one
-- longer value turns the whole hash into a table some 600 bytes bigger). Readers go on while a
-- chunk is 64 bytes long (claim.lua, reads.trial_info).
local CHUNK = 64
local function chunked_fields(name, value)
  local out = {name, string.sub(value, 1, CHUNK)}
  local k = 2
  for start = CHUNK + 1, #value, CHUNK do
    out[#out + 1] = name .. k
    out[#out + 1] = string.sub(value, start, start + CHUNK - 1)
    k = k + 1
  end
  return out
end
local function chunked_read(key, name, first)
  if not first or #first ~= CHUNK then
    return first
  end
  local parts, k = {first}, 2
  repeat
    local more = redis.call('HGET', key, name .. k) or ''
    parts[#parts + 1] = more
    k = k + 1
  until #more < CHUNK
  return table.concat(parts)
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  local mine = redis.call('HMGET', KEYS[2], 'params', 'attempt', 'seq')
  if chunked_read(KEYS[2], 'params', mine[1]) == ARGV[3] and mine[2] == ARGV[4] then
    return {'ok', tonumber(mine[3])}
  end
  return {'exists'}
end
for i = 10, #ARGV do
  if sweep[1] == ARGV[i] then
    return {'closed', sweep[1]}
  end
end
if ARGV[5] ~= '' then
  local orig = redis.call('HMGET', KEYS[5], 'state', 'retried_by')
  if orig[2] then
    return {'retried', orig[2]}
  end
  if not orig[1] or not string.find(ARGV[9], ' ' .. orig[1] .. ' ', 1, true) then
    return {'not_retryable', orig[1] or ''}
  end
end
local attempt = tonumber(ARGV[4])
local cap = nil
if ARGV[6] ~= '' then
  cap = tonumber(ARGV[6])
elseif sweep[3] then
  cap = tonumber(sweep[3])
end
if attempt == 1 and cap ~= nil and tonumber(sweep[4] or '0') >= cap then
  return {'capped'}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[2], 'seq', seq, 'state', 'pending', 'attempt', attempt, 'created_ms', now,
  unpack(chunked_fields('params', ARGV[3])))
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[2], 'retry_of', ARGV[5])
  redis.call('HSET', KEYS[5], 'retried_by', ARGV[2])
  redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[8], '*', 'type', 'retry', 'trial', ARGV[2])
end
redis.call('ZADD', KEYS[3], seq, ARGV[2])
redis.call('RPUSH', KEYS[4], ARGV[7])
if attempt == 1 then
  redis.call('HINCRBY', KEYS[1], 'issued', 1)
end
redis.call('HINCRBY', KEYS[1], 'n_pending', 1)
return {'ok', seq}
