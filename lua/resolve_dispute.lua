--[[ resolve_dispute.lua — a manager resolves an open 撞单 dispute: keep, or reassign.

keep: the holder keeps the lead. reassign: the lead moves from the holder the dispute named
to the disputing rep, with the customer's ownership (owner, holder; protection restarts from
now for protection_period_ms, lib/holding.lua start_hold); no quota or cooldown is counted.
A reassignment needs the lead still held by the rep the dispute named (else not_held: the
manager may keep). Resolved once: a second ruling is already_resolved.

KEYS[1]   lg:{team}:rules              hash: rep rules, team settings, version
KEYS[2]   lg:{team}:days               zset: local days
KEYS[3]   lg:{team}:lead:<lead_id>     hash: the lead
KEYS[4]   lg:{team}:dispute:<ref>      hash: the dispute
KEYS[5]   lg:{team}:audit              stream: audit trail
KEYS[6]   lg:{team}:events             stream: dispute and assigned events
KEYS[7]   lg:{team}:trail:<lead_id>    list: the lead's audit entry ids
KEYS[8]   lg:{team}:timers             zset: due timers (follow-up deadlines move)
KEYS[9]   lg:{team}:cust:<cid>         hash: the lead's customer (ownership)
KEYS[10]  lg:{team}:held:<rep>         set: the disputing rep's leads
KEYS[11]  lg:{team}:held:<prev>        set: the holder's leads
KEYS[12]  lg:{team}:rep:<rep>          hash: the disputing rep's state
KEYS[13]  lg:{team}:pool               zset: open leads

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  ref (the dispute's id)
ARGV[3]  decision: 'keep' | 'reassign'
ARGV[4]  actor ('manager:<name>')
ARGV[5]  reason
ARGV[6]  the disputing rep, as the caller read the dispute (KEYS[10], KEYS[12])
ARGV[7]  the lead's holder as the caller read it (KEYS[11])
ARGV[8]  the lead's customer id as the caller read it (KEYS[9])
ARGV[9]  audit stream max length (approximate trim)
ARGV[10] events stream max length (approximate trim)

Returns  {'ok', who has the lead after, 'kept' | 'reassigned'} or {'rejected', reason}: not_found | already_resolved
         | not_held | ineligible (the disputing rep left the roster); {'stale', ''} when
         ARGV[6..8] do not match the dispute and the lead.
Emits    audit entry action=dispute_ruling (rep: who has the lead after, prev: who lost);
         events entries type=dispute (to both reps) and, on reassign, type=assigned.
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/events.lua"
-- @include "lib/holding.lua"

local rules_key, days_key, lead_key, dispute_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local audit_key, events_key, trail_key, timers_key = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local cust_key, held_key, prev_held_key, rep_key, pool_key = KEYS[9], KEYS[10], KEYS[11],
  KEYS[12], KEYS[13]
local now = clock_ms(ARGV[1])
local ref, decision, actor, why = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local expected_rep, expected_holder, cid = ARGV[6], ARGV[7], ARGV[8]
local audit_maxlen, events_maxlen = ARGV[9], ARGV[10]

local d = redis.call('HMGET', dispute_key, 'lead', 'rep', 'prev', 'status')
if not d[1] then
  return {'rejected', R.NOT_FOUND}
end
if d[4] ~= 'open' then
  return {'rejected', R.ALREADY_RESOLVED}
end
local lead_id, rep_id, named = d[1], d[2], d[3]
local lead = redis.call('HMGET', lead_key, 'state', 'holder', 'customer_id', 'payload')
if rep_id ~= expected_rep or (lead[2] or '') ~= expected_holder or (lead[3] or '') ~= cid then
  return {'stale', ''}
end
local winner, loser, status = named, rep_id, 'kept'
if decision == 'reassign' then
  if lead[1] ~= 'held' or lead[2] ~= named then
    return {'rejected', R.NOT_HELD}
  end
  local rep_json = redis.call('HGET', rules_key, 'rep:' .. rep_id)
  if not rep_json then
    return {'rejected', R.INELIGIBLE}
  end
  winner, loser, status = rep_id, named, 'reassigned'
  end_hold(named, lead_id, lead_key, prev_held_key, timers_key, cust_key, cid, false, now)
  start_hold({pool_key = pool_key, rep_id = rep_id, rep = cjson.decode(rep_json),
    lead_id = lead_id, lead_key = lead_key, rep_key = rep_key, held_key = held_key,
    days_key = days_key, timers_key = timers_key, cust_key = cust_key, cid = cid, now = now,
    counts = false, cooldown = false,
    team = cjson.decode(redis.call('HGET', rules_key, 'team') or '{}')})
end
redis.call('HSET', dispute_key, 'status', status, 'ruled_ms', now, 'ruling_reason', why,
  'ruled_by', actor)
audit(audit_key, audit_maxlen, {
  action = ACTION.DISPUTE_RULING, lead = lead_id, rep = winner, prev = loser, actor = actor,
  ref = ref, status = status, reason = why, customer = cid,
  rules_version = redis.call('HGET', rules_key, 'version') or '0', ts = now,
}, trail_key)
emit(events_key, events_maxlen, EVENT.DISPUTE, {'ref', ref, 'lead_id', lead_id, 'rep', rep_id,
  'prev', named, 'status', status, 'reason', why})
if status == 'reassigned' then
  emit(events_key, events_maxlen, EVENT.ASSIGNED, {'lead_id', lead_id, 'rep', rep_id,
    'prev', named, 'payload', lead[4], 'by', actor, 'reason', 'dispute'})
end
return {'ok', winner, status}
