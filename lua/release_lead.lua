--[[ release_lead.lua — the holder gives a lead back; it is offered again to the team.

The former holder loses the customer's ownership and is locked out of this lead and this
customer's leads for their reclaim_lockout_ms.

KEYS[1]  lg:{team}:rules            hash: version, rep rules
KEYS[2]  lg:{team}:lead:<lead_id>   hash: lead state
KEYS[3]  lg:{team}:held:<rep>       set: lead ids the rep holds
KEYS[4]  lg:{team}:audit            stream: audit trail
KEYS[5]  lg:{team}:events           stream: offers and decisions
KEYS[6]  lg:{team}:trail:<lead_id>  list: this lead's audit entry ids
KEYS[7]  lg:{team}:timers           zset: due timers (the lead's deadlines are removed)
KEYS[8]  lg:{team}:cust:<cid>       hash: the lead's customer
KEYS[9]  lg:{team}:lockout:<rep>    hash: what the rep is kept off
KEYS[10] lg:{team}:pool             zset: open leads, scored by when they (re)opened (ms)

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  rep id (must be the holder)
ARGV[3]  lead id
ARGV[4]  audit stream max length (approximate trim)
ARGV[5]  events stream max length (approximate trim)
ARGV[6]  the lead's customer id as the caller read it ('' for none)

Returns  {'ok', '', seq} with the entry id of the new offer, or
         {'rejected', reason, ''} with reason not_found | closed | not_holder, or
         {'stale', '', ''} when ARGV[6] is not the lead's customer id.
Emits    events entry type=lead (the re-offer, to everyone but the releasing rep); audit
         entry action=release.
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/events.lua"
-- @include "lib/holding.lua"

local rules_key, lead_key, held_key, audit_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local events_key, trail_key, timers_key, cust_key = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local lockout_key = KEYS[9]
local now = clock_ms(ARGV[1])
local rep_id, lead_id, audit_maxlen, events_maxlen = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local cid = ARGV[6]

local lead = redis.call('HMGET', lead_key, 'state', 'holder', 'payload', 'customer_id')
local state, holder, payload = lead[1], lead[2], lead[3]
local reason = finished(state)
if not reason and (state ~= 'held' or holder ~= rep_id) then
  reason = R.NOT_HOLDER
end
if reason then
  return {'rejected', reason, ''}
end
if (lead[4] or '') ~= cid then
  return {'stale', '', ''}
end

end_hold(rep_id, lead_id, lead_key, held_key, timers_key, cust_key, cid, false, now)
local rep = cjson.decode(redis.call('HGET', rules_key, 'rep:' .. rep_id) or '{}')
if (rep.reclaim_lockout_ms or 0) > 0 then
  lock_out(lockout_key, lead_id, cid, now + rep.reclaim_lockout_ms, now)
end
local seq = emit(events_key, events_maxlen, EVENT.LEAD, {'lead_id', lead_id,
  'payload', payload, 'published_ms', now, 'reoffer', '1',
  'audience', cjson.encode({except_reps = {rep_id}})})
redis.call('HSET', lead_key, 'state', 'open', 'holder', '', 'seq', seq)
redis.call('ZADD', KEYS[10], now, lead_id)
redis.call('HDEL', lead_key, 'claimed_ms')
audit(audit_key, audit_maxlen, {
  action = ACTION.RELEASE, lead = lead_id, rep = rep_id, actor = rep_id, result = 'ok',
  seq = seq, rules_version = redis.call('HGET', rules_key, 'version') or '0', ts = now,
}, trail_key)
return {'ok', '', seq}
