--[[ auto_assign.lua — nobody claimed a lead in time: assign it by the team's policy.

Contenders are the team's reps who could take it now: eligible (active, region, skills),
not locked out of it or its customer, not paused, on shift, within max_open and max_daily
(cooldowns do not apply to an assignment): may_take with TAKE.ASSIGN (lib/availability.lua).
Policies (lib/draw.lua):
  least_loaded  fewest open leads; ties broken by a uniform draw (seed in the audit entry);
                a rep catching up counts as loaded like the median (lib/catchup.lua)
  round_robin   the next contender after the last rep this policy assigned to, by rep id
Never by roster order. With no contender the lead stays in the pool.

KEYS[1]    lg:{team}:rules            hash: version, rep rules, team settings
KEYS[2]    lg:{team}:days             zset: local days
KEYS[3]    lg:{team}:lead:<lead_id>   hash: lead state
KEYS[4]    lg:{team}:timers           zset: due timers
KEYS[5]    lg:{team}:audit            stream: audit trail
KEYS[6]    lg:{team}:events           stream: offers and decisions
KEYS[7]    lg:{team}:trail:<lead_id>  list: this lead's audit entry ids
KEYS[8]    lg:{team}:cust:<cid>       hash: the lead's customer
KEYS[9]    lg:{team}:rr               string: the rep round_robin assigned to last
KEYS[10]   lg:{team}:pool             zset: open leads, scored by when they (re)opened (ms)
KEYS[11..] per rep, in ARGV order: lg:{team}:rep:<rep>, lg:{team}:held:<rep>,
           lg:{team}:lockout:<rep>, lg:{team}:shift:<rep>

ARGV[1]    now override in ms ('' = Redis TIME; tests only)
ARGV[2]    lead id
ARGV[3]    policy now in force: 'least_loaded' | 'round_robin' | 'none' (drops the timer)
ARGV[4]    the lead's customer id as the caller read it ('' for none)
ARGV[5]    audit stream max length (approximate trim)
ARGV[6]    events stream max length (approximate trim)
ARGV[7]    draw seed override ('' = from Redis TIME; a replay passes the recorded one)
ARGV[8..]  the team's rep ids, sorted

Returns  {'assigned', rep}; {'none', ''} when nobody could take it; {'early', due ms};
         {'noop', ''} when the timer is gone or the lead is no longer open;
         {'stale', ''} when ARGV[4] is not the lead's customer id.
Emits    events entry type=assigned; audit entry action=auto_assign (policy, seed, result,
         contenders: JSON list of {rep, open} — who could take it and their open leads; a
         contender catching up also carries `catchup`: back_ms, away_ms (-1: new to
         draws) and the open it was counted with).
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/events.lua"
-- @include "lib/timer.lua"
-- @include "lib/availability.lua"
-- @include "lib/holding.lua"
-- @include "lib/draw.lua"
-- @include "lib/catchup.lua"

local rules_key, days_key, lead_key, timers_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local audit_key, events_key, trail_key, cust_key, rr_key = KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local pool_key = KEYS[10]
local now = clock_ms(ARGV[1])
local lead_id, policy, cid, audit_maxlen, events_maxlen = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local seed_override = ARGV[7]
local member = 'auto:' .. lead_id

local pending = not_due(timers_key, member, now)
if pending then
  return pending
end
local lead = redis.call('HMGET', lead_key, 'state', 'customer_id', 'region', 'skills', 'payload')
if (lead[2] or '') ~= cid then
  return {'stale', ''}
end
redis.call('ZREM', timers_key, member)
if lead[1] ~= 'open' or policy == 'none' then
  return {'noop', ''}
end

local contenders = {}
for i = 8, #ARGV do
  local rep_id, base = ARGV[i], 10 + (i - 8) * 4
  local rep_json = redis.call('HGET', rules_key, 'rep:' .. rep_id)
  local rep = rep_json and cjson.decode(rep_json)
  local open = redis.call('SCARD', KEYS[base + 2])
  local why = may_take({checks = TAKE.ASSIGN, rep = rep, rep_id = rep_id,
    lead = {region = lead[3], skills = lead[4]}, lead_id = lead_id, cid = cid, now = now,
    state = redis.call('HMGET', KEYS[base + 1], 'cooldown_until_ms', 'day', 'day_count',
      'paused'),
    open = open, days_key = days_key, lockout_key = KEYS[base + 3], shift_key = KEYS[base + 4]})
  if not why then
    contenders[#contenders + 1] = {id = rep_id, rep = rep, open = open,
      rep_key = KEYS[base + 1], held_key = KEYS[base + 2]}
  end
end

local seed, u = draw_seed(lead_id, seed_override)
local team = cjson.decode(redis.call('HGET', rules_key, 'team') or '{}')
local chosen = nil
if #contenders > 0 and policy == 'round_robin' then
  chosen = next_after(contenders, redis.call('GET', rr_key) or '')
  redis.call('SET', rr_key, chosen.id)
elseif #contenders > 0 then
  calibrate(contenders, {'open'}, team, now)
  chosen = least_loaded(contenders, u, {'open'})
end

local version = redis.call('HGET', rules_key, 'version') or '0'
local pool = {}
for _, c in ipairs(contenders) do
  pool[#pool + 1] = {rep = c.id, open = c.open, catchup = c.catchup}
end
if not chosen then
  audit(audit_key, audit_maxlen, {
    action = ACTION.AUTO_ASSIGN, lead = lead_id, actor = 'system', result = 'none',
    policy = policy, rules_version = version, ts = now,
  }, trail_key)
  return {'none', ''}
end
start_hold({pool_key = pool_key, rep_id = chosen.id, rep = chosen.rep, lead_id = lead_id, lead_key = lead_key,
  rep_key = chosen.rep_key, held_key = chosen.held_key, days_key = days_key,
  timers_key = timers_key, cust_key = cust_key, cid = cid, now = now, counts = true,
  cooldown = false, team = team})
emit(events_key, events_maxlen, EVENT.ASSIGNED, {'lead_id', lead_id, 'rep', chosen.id,
  'prev', '', 'payload', lead[5], 'by', 'system', 'reason', 'auto_assign'})
audit(audit_key, audit_maxlen, {
  action = ACTION.AUTO_ASSIGN, lead = lead_id, rep = chosen.id, actor = 'system',
  result = 'ok', policy = policy, seed = seed, contenders = cjson.encode(pool),
  rules_version = version, ts = now,
}, trail_key)
return {'assigned', chosen.id}
