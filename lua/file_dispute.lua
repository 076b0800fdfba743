--[[ file_dispute.lua — a rep disputes (撞单) a lead another rep holds: the customer is theirs.

Idempotent on the dispute's id: the same id again changes nothing and answers what the first
did. Both reps are told (a dispute event) and see it on the lead; a manager resolves it
(resolve_dispute.lua).

KEYS[1]  lg:{team}:rules                hash: the disputing rep must be on the roster; version
KEYS[2]  lg:{team}:lead:<lead_id>       hash: the lead (must be held by another rep)
KEYS[3]  lg:{team}:dispute:<ref>        hash: this dispute
KEYS[4]  lg:{team}:audit                stream: audit trail
KEYS[5]  lg:{team}:events               stream: the dispute event
KEYS[6]  lg:{team}:trail:<lead_id>      list: the lead's audit entry ids
KEYS[7]  lg:{team}:outcomes:lead:<id>   zset: the lead's feedback and disputes, by time (ms)
KEYS[8]  lg:{team}:outcomes:rep:<rep>   zset: the disputing rep's
KEYS[9]  lg:{team}:outcomes:rep:<prev>  zset: the holder's (as the caller read it)

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  ref (the dispute's id)
ARGV[3]  lead id
ARGV[4]  the disputing rep
ARGV[5]  evidence (text, bounded by the caller)
ARGV[6]  the lead's holder as the caller read it
ARGV[7]  audit stream max length (approximate trim)
ARGV[8]  events stream max length (approximate trim)

Returns  {'ok', holder, 'open'}, {'duplicate', holder, status} for a known ref,
         {'rejected', reason}: ineligible (not on the roster) | not_found | not_held |
         already_holder; {'stale', ''} when ARGV[6] is not the holder.
Emits    audit entry action=dispute; events entry type=dispute (to both reps).
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/events.lua"

local rules_key, lead_key, dispute_key, audit_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local events_key, trail_key, lead_out_key = KEYS[5], KEYS[6], KEYS[7]
local rep_out_key, prev_out_key = KEYS[8], KEYS[9]
local now = clock_ms(ARGV[1])
local ref, lead_id, rep_id, evidence, expected = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local audit_maxlen, events_maxlen = ARGV[7], ARGV[8]

local known = redis.call('HMGET', dispute_key, 'prev', 'status')
if known[1] then
  return {'duplicate', known[1], known[2] or ''}
end
if redis.call('HEXISTS', rules_key, 'rep:' .. rep_id) == 0 then
  return {'rejected', R.INELIGIBLE}
end
local lead = redis.call('HMGET', lead_key, 'state', 'holder', 'customer_id')
if not lead[1] then
  return {'rejected', R.NOT_FOUND}
end
local holder = lead[2] or ''
if lead[1] ~= 'held' or holder == '' then
  return {'rejected', R.NOT_HELD}
end
if holder == rep_id then
  return {'rejected', R.ALREADY_HOLDER}
end
if holder ~= expected then
  return {'stale', ''}
end
redis.call('HSET', dispute_key, 'lead', lead_id, 'rep', rep_id, 'prev', holder,
  'status', 'open', 'note', evidence, 'ts', now, 'customer', lead[3] or '')
redis.call('ZADD', lead_out_key, now, 'dispute:' .. ref)
redis.call('ZADD', rep_out_key, now, 'dispute:' .. ref)
redis.call('ZADD', prev_out_key, now, 'dispute:' .. ref)
audit(audit_key, audit_maxlen, {
  action = ACTION.DISPUTE, lead = lead_id, rep = rep_id, prev = holder, actor = rep_id,
  ref = ref, status = 'open', note = evidence, customer = lead[3] or '',
  rules_version = redis.call('HGET', rules_key, 'version') or '0', ts = now,
}, trail_key)
emit(events_key, events_maxlen, EVENT.DISPUTE, {'ref', ref, 'lead_id', lead_id, 'rep', rep_id,
  'prev', holder, 'status', 'open', 'reason', ''})
return {'ok', holder, 'open'}
