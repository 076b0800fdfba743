--[[ settle_window.lua — close a lead's claim window and pick its winner, exactly once.

Runs when the window's timer is due; whichever server process gets there first settles it,
every later call finds nothing to do. Each candidate is checked again (eligibility, cooldown,
quotas: may_take with TAKE.SETTLE, lib/availability.lua): those who fail are rejected with the
reason, the rest compete by the lead's policy (lib/draw.lua):
  lottery       uniform draw
  least_loaded  fewest open leads, then fewest wins today, then a uniform draw among the tied;
                a rep catching up counts as loaded like the median (lib/catchup.lua)
  weighted      draw proportional to each rep's `weight` rule, or with weight_from = "score"
                (team or band) to the rep's score held within [weight_floor, weight_cap]
The draw uses u = first 8 hex digits of `seed` / 2^32 over the contenders sorted by rep id;
`seed` (sha1 of the lead id and the Redis time in µs) is written to the audit entry, so
anyone can recompute the draw.

KEYS[1]      lg:{team}:rules            hash: version, rep:<id> -> rules JSON
KEYS[2]      lg:{team}:days             zset: local date scored by its midnight (UTC ms)
KEYS[3]      lg:{team}:lead:<lead_id>   hash: lead state
KEYS[4]      lg:{team}:cand:<lead_id>   hash: rep -> JSON {req, ts[, result, reason]}
KEYS[5]      lg:{team}:timers           zset: due timers
KEYS[6]      lg:{team}:audit            stream: audit trail
KEYS[7]      lg:{team}:events           stream: offers and decisions
KEYS[8]      lg:{team}:trail:<lead_id>  list: this lead's audit entry ids
KEYS[9]      lg:{team}:cust:<cid>       hash: the lead's customer (ownership)
KEYS[10]     lg:{team}:pool             zset: open leads, scored by when they (re)opened (ms)
KEYS[11..]   per candidate, in ARGV order: lg:{team}:rep:<rep>, lg:{team}:held:<rep>

ARGV[1]      now override in ms ('' = Redis TIME; tests only)
ARGV[2]      lead id
ARGV[3]      audit stream max length (approximate trim)
ARGV[4]      events stream max length (approximate trim)
ARGV[5]      the lead's customer id as the caller believes it ('' for none)
ARGV[6]      draw seed override ('' = from Redis TIME; a replay passes the recorded one)
ARGV[7..]    the unsettled candidates' rep ids, sorted

Returns  {'settled', winner ('' if nobody could win; the lead is open again), results JSON
         (rep -> {req, result, reason}, as in the type=settled event)}
         {'early', window_ends_ms} before the window closes; {'noop', ''} when there is no
         window; {'stale', ''} when the candidates or the customer differ from ARGV.
Emits    audit entries action=claim for each candidate and action=settle (policy, seed,
         contenders, winner; a contender catching up carries `catchup`: back_ms, away_ms
         (-1: new to draws) and the open/today it was counted with); events entries type=settled (results per rep) and type=taken.
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/events.lua"
-- @include "lib/availability.lua"
-- @include "lib/holding.lua"
-- @include "lib/draw.lua"
-- @include "lib/catchup.lua"

local rules_key, days_key, lead_key, cand_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local timers_key, audit_key, events_key, trail_key = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local now = clock_ms(ARGV[1])
local lead_id, audit_maxlen, events_maxlen, cid = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local cust_key, pool_key, seed_override = KEYS[9], KEYS[10], ARGV[6]
local reps = {}
for i = 7, #ARGV do
  reps[#reps + 1] = ARGV[i]
end

local lead = redis.call('HMGET', lead_key, 'state', 'window_ends_ms', 'window_policy', 'region',
  'skills', 'customer_id', 'payload')
if lead[1] ~= 'window' then
  return {'noop', ''}
end
if now < tonumber(lead[2]) then
  return {'early', lead[2]}
end

local function unsettled()
  local flat = redis.call('HGETALL', cand_key)
  local names, entries = {}, {}
  for i = 1, #flat, 2 do
    local entry = cjson.decode(flat[i + 1])
    if not entry.result then
      names[#names + 1] = flat[i]
      entries[flat[i]] = entry
    end
  end
  table.sort(names)
  return names, entries
end

local names, entries = unsettled()
if table.concat(names, ',') ~= table.concat(reps, ',') or (lead[6] or '') ~= cid then
  return {'stale', ''}
end

local version = tonumber(redis.call('HGET', rules_key, 'version') or '0')
local team = cjson.decode(redis.call('HGET', rules_key, 'team') or '{}')
local how = weight_source(team, tonumber(cjson.decode(lead[7] or '{}').value) or 0)
local contenders, rejected = {}, {}
for i, rep_id in ipairs(reps) do
  local rep_json = redis.call('HGET', rules_key, 'rep:' .. rep_id)
  local rep = rep_json and cjson.decode(rep_json)
  local rep_key, held_key = KEYS[9 + 2 * i], KEYS[10 + 2 * i]
  local state = redis.call('HMGET', rep_key, 'cooldown_until_ms', 'day', 'day_count')
  local open = redis.call('SCARD', held_key)
  local limit = may_take({checks = TAKE.SETTLE, rep = rep, rep_id = rep_id,
    lead = {region = lead[4], skills = lead[5]}, lead_id = lead_id, cid = cid, now = now,
    state = state, open = open, days_key = days_key})
  if limit then
    rejected[rep_id] = limit
  else
    local day = today(days_key, now)
    contenders[#contenders + 1] = {id = rep_id, rep = rep, state = state, open = open,
      today = daily_count(state, day), weight = draw_weight(how, rep, rep_key), rep_key = rep_key,
      held_key = held_key}
  end
end

local seed, u = draw_seed(lead_id, seed_override)
local policy = lead[3]

local winner = nil
if #contenders > 0 then
  if policy == 'least_loaded' then
    calibrate(contenders, {'open', 'today'}, team, now)
    winner = least_loaded(contenders, u, {'open', 'today'})
  elseif policy == 'weighted' then
    winner = weighted(contenders, u)
  else
    winner = uniform(contenders, u)
  end
end

local results = {}
local function decide(rep_id, result, reason)
  local entry = entries[rep_id]
  entry.result, entry.reason = result, reason
  redis.call('HSET', cand_key, rep_id, cjson.encode(entry))
  results[rep_id] = {req = entry.req, result = result, reason = reason}
  audit(audit_key, audit_maxlen, {
    action = ACTION.CLAIM, lead = lead_id, rep = rep_id, actor = rep_id, req = entry.req,
    result = result, reason = reason, note = NOTE.SETTLED, rules_version = version, ts = now,
  }, trail_key)
end

if winner then
  start_hold({pool_key = pool_key, rep_id = winner.id, rep = winner.rep, lead_id = lead_id, lead_key = lead_key,
    rep_key = winner.rep_key, held_key = winner.held_key, days_key = days_key,
    timers_key = timers_key, cust_key = cust_key, cid = cid, now = now, counts = true,
    cooldown = true, team = team})
end
for _, rep_id in ipairs(reps) do
  if winner and rep_id == winner.id then
    decide(rep_id, 'won', '')
  elseif rejected[rep_id] then
    decide(rep_id, 'rejected', rejected[rep_id])
  else
    decide(rep_id, 'lost', '')
  end
end
if not winner then
  redis.call('HSET', lead_key, 'state', 'open')
  redis.call('HDEL', lead_key, 'window_ends_ms')
end
redis.call('ZREM', timers_key, 'settle:' .. lead_id)

local pool = {}
for _, c in ipairs(contenders) do
  pool[#pool + 1] = {rep = c.id, weight = c.weight, open = c.open, today = c.today,
    catchup = c.catchup}
end
audit(audit_key, audit_maxlen, {
  action = ACTION.SETTLE, lead = lead_id, actor = 'system', result = winner and 'won' or 'none',
  rep = winner and winner.id or '', policy = policy, seed = seed,
  contenders = cjson.encode(pool), rules_version = version, ts = now,
}, trail_key)
emit(events_key, events_maxlen, EVENT.SETTLED,
  {'lead_id', lead_id, 'results', cjson.encode(results), 'ts', now})
if winner then
  emit(events_key, events_maxlen, EVENT.TAKEN, {'lead_id', lead_id, 'ts', now})
end
return {'settled', winner and winner.id or '', cjson.encode(results)}
