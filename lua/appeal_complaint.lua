--[[ appeal_complaint.lua — a rep appeals an upheld complaint against them, once, in time.

KEYS[1]  lg:{team}:rules          hash: version
KEYS[2]  lg:{team}:fb:<ref>       hash: the complaint
KEYS[3]  lg:{team}:audit          stream: audit trail
KEYS[4]  lg:{team}:events         stream: the complaint event
KEYS[5]  lg:{team}:trail:<lead>   list: the complaint's lead's audit entry ids

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  ref (the complaint's feedback id)
ARGV[3]  the appealing rep (must be the complaint's rep)
ARGV[4]  reason (the rep's case)
ARGV[5]  audit stream max length (approximate trim)
ARGV[6]  events stream max length (approximate trim)

Returns  {'ok', rep, 'appealed'} or {'rejected', reason}: not_found | not_complaint | not_yours |
         already_appealed (appealed before, whatever came of it) | not_upheld |
         appeal_expired (after the appeal window the ruling opened).
Emits    audit entry action=appeal; events entry type=complaint (to the rep).
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/events.lua"

local rules_key, fb_key, audit_key, events_key, trail_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4],
  KEYS[5]
local now = clock_ms(ARGV[1])
local ref, rep_id, why, audit_maxlen, events_maxlen = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]

local fb = redis.call('HMGET', fb_key, 'kind', 'rep', 'status', 'lead', 'category',
  'appeal_until')
if not fb[1] then
  return {'rejected', R.NOT_FOUND}
end
if fb[1] ~= 'complaint' then
  return {'rejected', R.NOT_COMPLAINT}
end
if fb[2] ~= rep_id then
  return {'rejected', R.NOT_YOURS}
end
local status = fb[3]
if status == 'appealed' or status == 'overturned' or status == 'rejected' then
  return {'rejected', R.ALREADY_APPEALED}
end
if status ~= 'upheld' then
  return {'rejected', R.NOT_UPHELD}
end
if now > tonumber(fb[6] or '0') then
  return {'rejected', R.APPEAL_EXPIRED}
end
redis.call('HSET', fb_key, 'status', 'appealed', 'appealed_ms', now, 'appeal_reason', why)
audit(audit_key, audit_maxlen, {
  action = ACTION.APPEAL, lead = fb[4], rep = rep_id, actor = rep_id, ref = ref,
  category = fb[5], status = 'appealed', reason = why,
  rules_version = redis.call('HGET', rules_key, 'version') or '0', ts = now,
}, trail_key)
emit(events_key, events_maxlen, EVENT.COMPLAINT, {'rep', rep_id, 'ref', ref, 'lead_id', fb[4],
  'status', 'appealed', 'category', fb[5], 'reason', why, 'appeal_until', fb[6]})
return {'ok', rep_id, 'appealed'}
