--[[ dispatch_lead.lua — a manager assigns an open lead to a rep (派单), or reassigns a held one.

The target must be eligible (active, region, skills), not locked out of the lead or its
customer, not paused or off shift, and within max_open and max_daily (may_take with
TAKE.ASSIGN, lib/availability.lua) — unless `force` is given. Candidates waiting in an open
claim window get their final result (the target, if one of them, won; the others lost). A
reassignment needs a reason; the former holder loses the lead (told live) and, with it, the
customer's ownership. The assignment counts toward the target's max_daily; it starts no
cooldown. Audited with the manager as actor.

KEYS[1]   lg:{team}:rules            hash: version, rep rules, team settings
KEYS[2]   lg:{team}:days             zset: local days
KEYS[3]   lg:{team}:lead:<lead_id>   hash: lead state
KEYS[4]   lg:{team}:rep:<rep>        hash: target state
KEYS[5]   lg:{team}:held:<rep>       set: target's leads
KEYS[6]   lg:{team}:shift:<rep>      zset: target's shifts
KEYS[7]   lg:{team}:audit            stream: audit trail
KEYS[8]   lg:{team}:events           stream: offers and decisions
KEYS[9]   lg:{team}:trail:<lead_id>  list: this lead's audit entry ids
KEYS[10]  lg:{team}:timers           zset: due timers
KEYS[11]  lg:{team}:cust:<cid>       hash: the lead's customer
KEYS[12]  lg:{team}:held:<prev>      set: the current holder's leads (placeholder if none)
KEYS[13]  lg:{team}:lockout:<rep>    hash: what the target is kept off
KEYS[14]  lg:{team}:cand:<lead_id>   hash: claim-window candidates (told the outcome)
KEYS[15]  lg:{team}:pool             zset: open leads, scored by when they (re)opened (ms)

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  lead id
ARGV[3]  target rep id
ARGV[4]  actor ('manager:<name>')
ARGV[5]  force: '1' skips eligibility, availability and quota checks
ARGV[6]  reason (required to take a lead from its holder)
ARGV[7]  current holder as the caller read it ('' for none)
ARGV[8]  the lead's customer id as the caller read it ('' for none)
ARGV[9]  audit stream max length (approximate trim)
ARGV[10] events stream max length (approximate trim)

Returns  {'ok', prev holder or ''} or {'rejected', reason}: not_found | closed |
         ineligible | locked_out | not_open | quota_open | quota_daily | reason_required |
         already_holder;
         {'stale', ''} when ARGV[7] or ARGV[8] do not match the lead.
Emits    events entries type=settled (when a window was open) and type=assigned (target
         told; everyone else drops the lead; a former holder is told it was revoked);
         audit entry action=dispatch or reassign.
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/events.lua"
-- @include "lib/availability.lua"
-- @include "lib/holding.lua"

local rules_key, days_key, lead_key, rep_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local held_key, shift_key, audit_key, events_key = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local trail_key, timers_key, cust_key, prev_held_key = KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local lockout_key, cand_key, pool_key = KEYS[13], KEYS[14], KEYS[15]
local now = clock_ms(ARGV[1])
local lead_id, rep_id, actor, force, why = ARGV[2], ARGV[3], ARGV[4], ARGV[5] == '1', ARGV[6]
local expected_prev, cid, audit_maxlen, events_maxlen = ARGV[7], ARGV[8], ARGV[9], ARGV[10]

local lead = redis.call('HMGET', lead_key, 'state', 'holder', 'customer_id', 'region', 'skills',
  'payload')
if finished(lead[1]) then
  return {'rejected', finished(lead[1])}
end
if not as_read(lead[2], lead[3], expected_prev, cid) then
  return {'stale', ''}
end
local prev = lead[2] or ''
if prev == rep_id then
  return {'rejected', R.ALREADY_HOLDER}
end
if prev ~= '' and why == '' then
  return {'rejected', R.REASON_REQUIRED}
end
local rep_json = redis.call('HGET', rules_key, 'rep:' .. rep_id)
if not rep_json then
  return {'rejected', R.INELIGIBLE}
end
local rep = cjson.decode(rep_json)
local state = redis.call('HMGET', rep_key, 'cooldown_until_ms', 'day', 'day_count', 'paused')
if not force then
  local refusal = may_take({checks = TAKE.ASSIGN, rep = rep, rep_id = rep_id,
    lead = {region = lead[4], skills = lead[5]}, lead_id = lead_id, cid = cid, now = now,
    state = state, open = redis.call('SCARD', held_key), days_key = days_key,
    lockout_key = lockout_key, shift_key = shift_key})
  if refusal then
    return {'rejected', refusal}
  end
end

if prev ~= '' then
  end_hold(prev, lead_id, lead_key, prev_held_key, timers_key, cust_key, cid, false, now)
end
if lead[1] == 'window' then
  local results = end_window(cand_key, timers_key, lead_id, rep_id, 'lost', '')
  if results then
    emit(events_key, events_maxlen, EVENT.SETTLED,
      {'lead_id', lead_id, 'results', cjson.encode(results), 'ts', now})
  end
end
start_hold({pool_key = pool_key, rep_id = rep_id, rep = rep, lead_id = lead_id, lead_key = lead_key,
  rep_key = rep_key, held_key = held_key, days_key = days_key, timers_key = timers_key,
  cust_key = cust_key, cid = cid, now = now, counts = true, cooldown = false,
  team = cjson.decode(redis.call('HGET', rules_key, 'team') or '{}')})
emit(events_key, events_maxlen, EVENT.ASSIGNED, {'lead_id', lead_id, 'rep', rep_id,
  'prev', prev, 'payload', lead[6], 'by', actor, 'reason', why})
local action = ACTION.DISPATCH
if prev ~= '' then action = ACTION.REASSIGN end
local force_flag = ''
if force then force_flag = '1' end
audit(audit_key, audit_maxlen, {
  action = action, lead = lead_id, rep = rep_id, prev = prev, actor = actor,
  result = 'ok', reason = why, force = force_flag,
  rules_version = redis.call('HGET', rules_key, 'version') or '0', ts = now,
}, trail_key)
return {'ok', prev}
