--[[ withdraw_lead.lua — a manager withdraws a lead: nobody may claim it any more.

KEYS[1]  lg:{team}:lead:<lead_id>   hash: lead state
KEYS[2]  lg:{team}:held:<holder>    set: the holder's leads (placeholder if none)
KEYS[3]  lg:{team}:timers           zset: due timers (all of the lead's are removed)
KEYS[4]  lg:{team}:cust:<cid>       hash: the lead's customer
KEYS[5]  lg:{team}:audit            stream: audit trail
KEYS[6]  lg:{team}:events           stream: offers and decisions
KEYS[7]  lg:{team}:trail:<lead_id>  list: this lead's audit entry ids
KEYS[8]  lg:{team}:cand:<lead_id>   hash: claim-window candidates (told it closed)
KEYS[9]  lg:{team}:rules            hash: the rules version (for the audit entry)
KEYS[10] lg:{team}:pool             zset: open leads, scored by when they (re)opened (ms)

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  lead id
ARGV[3]  actor ('manager:<name>')
ARGV[4]  reason (free text, may be '')
ARGV[5]  holder as the caller read it ('' for none)
ARGV[6]  the lead's customer id as the caller read it ('' for none)
ARGV[7]  audit stream max length (approximate trim)
ARGV[8]  events stream max length (approximate trim)
ARGV[9]  retention, ms: the lead, its trail and candidates expire this long after ('0': never)

Returns  {'ok', former holder or ''} or {'rejected', not_found | closed} or {'stale', ''}.
Emits    events entries type=settled (candidates of an open window: rejected, closed) and
         type=withdrawn (everyone drops it; a holder is told it was revoked);
         audit entry action=withdraw.
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/events.lua"
-- @include "lib/holding.lua"
-- @include "lib/retention.lua"

local lead_key, held_key, timers_key, cust_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local audit_key, events_key, trail_key, cand_key = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local rules_key = KEYS[9]
local now = clock_ms(ARGV[1])
local lead_id, actor, why, expected, cid = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local audit_maxlen, events_maxlen = ARGV[7], ARGV[8]

local lead = redis.call('HMGET', lead_key, 'state', 'holder', 'customer_id')
if finished(lead[1]) then
  return {'rejected', finished(lead[1])}
end
if not as_read(lead[2], lead[3], expected, cid) then
  return {'stale', ''}
end
local holder = lead[2] or ''
if holder ~= '' then
  end_hold(holder, lead_id, lead_key, held_key, timers_key, cust_key, cid, false, now)
end
local results = end_window(cand_key, timers_key, lead_id, '', 'rejected', R.CLOSED)
if results then
  emit(events_key, events_maxlen, EVENT.SETTLED,
    {'lead_id', lead_id, 'results', cjson.encode(results), 'ts', now})
end
redis.call('ZREM', timers_key, 'open:' .. lead_id, 'auto:' .. lead_id)
local stages = redis.call('HGET', lead_key, 'stages') or ''
if stages ~= '' then
  for i = 1, #cjson.decode(stages) do
    redis.call('ZREM', timers_key, 'stage:' .. lead_id .. '#' .. i)
  end
end
redis.call('HSET', lead_key, 'state', 'withdrawn', 'holder', '', 'withdrawn_ms', now)
redis.call('ZREM', KEYS[10], lead_id)
emit(events_key, events_maxlen, EVENT.WITHDRAWN, {'lead_id', lead_id, 'rep', holder,
  'by', actor, 'reason', why})
audit(audit_key, audit_maxlen, {
  action = ACTION.WITHDRAW, lead = lead_id, rep = holder, actor = actor, result = 'ok',
  reason = why, rules_version = redis.call('HGET', rules_key, 'version') or '0', ts = now,
}, trail_key)
retire(ARGV[9], lead_key, trail_key, cand_key)
return {'ok', holder}
