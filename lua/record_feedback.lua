--[[ record_feedback.lua — a customer's rating or complaint on a lead, from an integration.

Idempotent on the feedback's own id (`ref`): the same id again changes nothing and answers
what the first did. It attaches to the rep who held the lead at the contact it is about
(`contact_at`), else to the lead's last holder (lib/outcomes.lua holder_at); '' when the lead
never had one. A complaint opens as `received` and the rep is told (a complaint event); a
rating is only recorded. Neither changes the rep's state: penalties come with a ruling
(rule_complaint.lua).

KEYS[1]  lg:{team}:rules              hash: team settings (complaint categories), version
KEYS[2]  lg:{team}:lead:<lead_id>     hash: the lead (must exist)
KEYS[3]  lg:{team}:trail:<lead_id>    list: the lead's audit entry ids (its holder history)
KEYS[4]  lg:{team}:audit              stream: audit trail
KEYS[5]  lg:{team}:events             stream: the complaint event
KEYS[6]  lg:{team}:fb:<ref>           hash: this feedback
KEYS[7]  lg:{team}:outcomes:lead:<id> zset: the lead's feedback and disputes, by time (ms)
KEYS[8]  lg:{team}:outcomes:rep:<rep> zset: the attached rep's (as the caller expects it)

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  ref (the feedback's id)
ARGV[3]  lead id
ARGV[4]  actor ('integration:<name>' or 'manager:<name>')
ARGV[5]  kind: 'rating' | 'complaint'
ARGV[6]  rating (1..5; rating only)
ARGV[7]  category (complaint only)
ARGV[8]  text (the customer's words, bounded by the caller)
ARGV[9]  contact_at in ms ('' = the last holder)
ARGV[10] the rep the caller expects it to attach to (KEYS[8]; '' for none)
ARGV[11] audit stream max length (approximate trim)
ARGV[12] events stream max length (approximate trim)

Returns  {'ok', rep, status} ('received' for a complaint, '' for a rating);
         {'duplicate', rep, status} for a known ref; {'stale', rep} when it attaches to
         another rep than ARGV[10] (nothing changed: call again with that rep);
         {'rejected', reason}: not_found | unknown_category | bad_rating.
Emits    audit entry action=feedback; events entry type=complaint (a complaint with a rep).
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/events.lua"
-- @include "lib/outcomes.lua"

local rules_key, lead_key, trail_key, audit_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local events_key, fb_key, lead_out_key, rep_out_key = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local now = clock_ms(ARGV[1])
local ref, lead_id, actor, kind = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local rating, category, text, contact_at = ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9])
local expected_rep, audit_maxlen, events_maxlen = ARGV[10], ARGV[11], ARGV[12]

local known = redis.call('HMGET', fb_key, 'rep', 'status')
if known[1] then
  return {'duplicate', known[1], known[2] or ''}
end
local holder = redis.call('HGET', lead_key, 'holder')
if not holder then
  return {'rejected', R.NOT_FOUND}
end
local team = cjson.decode(redis.call('HGET', rules_key, 'team') or '{}')
local status = ''
if kind == 'complaint' then
  local ok = false
  for _, name in ipairs((team.complaints or {}).categories or {}) do
    ok = ok or name == category
  end
  if not ok then
    return {'rejected', R.UNKNOWN_CATEGORY}
  end
  status, rating = 'received', ''
else
  local n = tonumber(rating)
  if not n or n ~= math.floor(n) or n < 1 or n > 5 then
    return {'rejected', R.BAD_RATING}
  end
  category = ''
end
local rep = holder_at(trail_key, audit_key, contact_at, holder)
if rep ~= expected_rep then
  return {'stale', rep}
end

local version = redis.call('HGET', rules_key, 'version') or '0'
redis.call('HSET', fb_key, 'kind', kind, 'lead', lead_id, 'rep', rep, 'actor', actor,
  'rating', rating, 'category', category, 'note', text, 'status', status, 'ts', now,
  'contact_at', ARGV[9])
redis.call('ZADD', lead_out_key, now, 'fb:' .. ref)
if rep ~= '' then
  redis.call('ZADD', rep_out_key, now, 'fb:' .. ref)
end
audit(audit_key, audit_maxlen, {
  action = ACTION.FEEDBACK, lead = lead_id, rep = rep, actor = actor, ref = ref,
  rating = rating, category = category, status = status, note = text,
  contact_at = ARGV[9], rules_version = version, ts = now,
}, trail_key)
if status ~= '' and rep ~= '' then
  emit(events_key, events_maxlen, EVENT.COMPLAINT, {'rep', rep, 'ref', ref, 'lead_id', lead_id,
    'status', status, 'category', category, 'reason', ''})
end
return {'ok', rep, status}
