--[[ close_lead.lua — the holder closes a lead as won or lost, freeing its quota slot.

KEYS[1]  lg:{team}:rules            hash: version (for the audit record)
KEYS[2]  lg:{team}:lead:<lead_id>   hash: lead state
KEYS[3]  lg:{team}:held:<rep>       set: lead ids the rep holds
KEYS[4]  lg:{team}:audit            stream: audit trail
KEYS[5]  lg:{team}:trail:<lead_id>  list: this lead's audit entry ids

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  rep id (must be the holder)
ARGV[3]  lead id
ARGV[4]  outcome: 'won' | 'lost' (the sale, not the claim)
ARGV[5]  audit stream max length (approximate trim)

Returns  {'ok', ''} or {'rejected', reason} with reason not_found | closed | not_holder.
Emits    audit entry action=close.
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"

local rules_key, lead_key, held_key, audit_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local trail_key = KEYS[5]
local now = clock_ms(ARGV[1])
local rep_id, lead_id, outcome, audit_maxlen = ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local lead = redis.call('HMGET', lead_key, 'state', 'holder')
local state, holder = lead[1], lead[2]
if not state then
  return {'rejected', R.NOT_FOUND}
end
if state == 'closed' or state == 'withdrawn' then
  return {'rejected', R.CLOSED}
end
if state ~= 'held' or holder ~= rep_id then
  return {'rejected', R.NOT_HOLDER}
end

redis.call('HSET', lead_key, 'state', 'closed', 'outcome', outcome, 'closed_ms', now)
redis.call('SREM', held_key, lead_id)
audit(audit_key, audit_maxlen, {
  'action', 'close', 'lead', lead_id, 'rep', rep_id, 'actor', rep_id, 'result', 'ok',
  'outcome', outcome, 'rules_version', redis.call('HGET', rules_key, 'version') or '0', 'ts', now,
}, trail_key)
return {'ok', ''}
