--[[ close_lead.lua — the holder closes a lead as won or lost, freeing its quota slot.

A won sale renews the rep's ownership of the customer for the protection period.

KEYS[1]  lg:{team}:rules            hash: version and team settings
KEYS[2]  lg:{team}:lead:<lead_id>   hash: lead state
KEYS[3]  lg:{team}:held:<rep>       set: lead ids the rep holds
KEYS[4]  lg:{team}:audit            stream: audit trail
KEYS[5]  lg:{team}:trail:<lead_id>  list: this lead's audit entry ids
KEYS[6]  lg:{team}:timers           zset: due timers (the lead's deadlines are removed)
KEYS[7]  lg:{team}:cust:<cid>       hash: the lead's customer
KEYS[8]  lg:{team}:cand:<lead_id>   hash: claim-window candidates (expire with the lead)

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  rep id (must be the holder)
ARGV[3]  lead id
ARGV[4]  outcome: 'won' | 'lost' (the sale, not the claim)
ARGV[5]  audit stream max length (approximate trim)
ARGV[6]  the lead's customer id as the caller read it ('' for none)
ARGV[7]  retention, ms: the lead, its trail and candidates expire this long after ('0': never)

Returns  {'ok', ''} or {'rejected', reason} with reason not_found | closed | not_holder,
         or {'stale', ''} when ARGV[6] is not the lead's customer id.
Emits    audit entry action=close.
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/holding.lua"
-- @include "lib/retention.lua"

local rules_key, lead_key, held_key, audit_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local trail_key, timers_key, cust_key, cand_key = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local now = clock_ms(ARGV[1])
local rep_id, lead_id, outcome, audit_maxlen, cid = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]

local lead = redis.call('HMGET', lead_key, 'state', 'holder', 'customer_id')
local state, holder = lead[1], lead[2]
if finished(state) then
  return {'rejected', finished(state)}
end
if state ~= 'held' or holder ~= rep_id then
  return {'rejected', R.NOT_HOLDER}
end
if (lead[3] or '') ~= cid then
  return {'stale', ''}
end

end_hold(rep_id, lead_id, lead_key, held_key, timers_key, cust_key, cid, true, now)
if cid ~= '' and outcome == 'won' then
  local team = cjson.decode(redis.call('HGET', rules_key, 'team') or '{}')
  redis.call('HSET', cust_key, 'owner', rep_id,
    'owner_until_ms', now + (team.protection_period_ms or 0))
  keep_customer(cust_key, now)
end
redis.call('HSET', lead_key, 'state', 'closed', 'outcome', outcome, 'closed_ms', now)
audit(audit_key, audit_maxlen, {
  action = ACTION.CLOSE, lead = lead_id, rep = rep_id, actor = rep_id, result = 'ok',
  outcome = outcome, rules_version = redis.call('HGET', rules_key, 'version') or '0', ts = now,
}, trail_key)
retire(ARGV[7], lead_key, trail_key, cand_key)
return {'ok', ''}
