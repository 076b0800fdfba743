--[[ fire_deadline.lua — a lead's deadline timer is due: warn the holder, or recycle the lead.

'warn:<id>' pushes a warning to the holder. 'deadline:<id>' returns a lead whose holder
missed the follow-up deadline (or held it past max_hold_ms without progress) to the pool:
the holder loses it and the customer's ownership, gets the penalty cooldown, is locked out
of the lead and the customer for reclaim_lockout_ms, and a miss is counted; the lead is
offered again to everyone. Only the first caller fires a timer; later calls find it gone.

KEYS[1]   lg:{team}:rules            hash: version, rep rules
KEYS[2]   lg:{team}:lead:<lead_id>   hash: lead state
KEYS[3]   lg:{team}:timers           zset: due timers
KEYS[4]   lg:{team}:audit            stream: audit trail
KEYS[5]   lg:{team}:events           stream: offers and decisions
KEYS[6]   lg:{team}:trail:<lead_id>  list: this lead's audit entry ids
KEYS[7]   lg:{team}:rep:<holder>     hash: holder state (cooldown, misses)
KEYS[8]   lg:{team}:held:<holder>    set: leads the holder holds
KEYS[9]   lg:{team}:lockout:<holder> hash: what the holder is kept off
KEYS[10]  lg:{team}:cust:<cid>       hash: the lead's customer
KEYS[11] lg:{team}:pool             zset: open leads, scored by when they (re)opened (ms)

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  timer member: 'warn:<lead_id>' or 'deadline:<lead_id>'
ARGV[3]  lead id
ARGV[4]  holder as the caller read it
ARGV[5]  the lead's customer id as the caller read it ('' for none)
ARGV[6]  audit stream max length (approximate trim)
ARGV[7]  events stream max length (approximate trim)

Returns  {'warned'|'recycled', holder} when fired; {'early', due ms} before it is due;
         {'noop', ''} when the timer is gone or the lead is no longer held;
         {'stale', ''} when ARGV[4] or ARGV[5] do not match the lead.
Emits    warn: events entry type=warn, audit action=warn. deadline: events entries
         type=revoked (to the holder) and type=lead (the re-offer, to everyone but the former
         holder), audit action=recycle.
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/events.lua"
-- @include "lib/timer.lua"
-- @include "lib/holding.lua"

local rules_key, lead_key, timers_key, audit_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local events_key, trail_key, rep_key, held_key = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local lockout_key, cust_key = KEYS[9], KEYS[10]
local now = clock_ms(ARGV[1])
local member, lead_id, expected, cid = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local audit_maxlen, events_maxlen = ARGV[6], ARGV[7]

local pending = not_due(timers_key, member, now)
if pending then
  return pending
end
local lead = redis.call('HMGET', lead_key, 'state', 'holder', 'customer_id', 'payload',
  'deadline_ms', 'deadline_kind')
if lead[1] ~= 'held' then
  redis.call('ZREM', timers_key, member)
  return {'noop', ''}
end
if lead[2] ~= expected or (lead[3] or '') ~= cid then
  return {'stale', ''}
end
redis.call('ZREM', timers_key, member)
local version = redis.call('HGET', rules_key, 'version') or '0'
local holder = lead[2]

if string.sub(member, 1, 5) == 'warn:' then
  emit(events_key, events_maxlen, EVENT.WARN, {'lead_id', lead_id, 'rep', holder,
    'deadline_ms', lead[5] or '', 'kind', lead[6] or ''})
  audit(audit_key, audit_maxlen, {
    action = ACTION.WARN, lead = lead_id, rep = holder, actor = 'system', result = 'ok',
    deadline_ms = lead[5] or '', reason = lead[6] or '', rules_version = version, ts = now,
  }, trail_key)
  return {'warned', holder}
end

local kind = lead[6] or 'followup'
local rep = cjson.decode(redis.call('HGET', rules_key, 'rep:' .. holder) or '{}')
end_hold(holder, lead_id, lead_key, held_key, timers_key, cust_key, cid, false, now)
local cooldown = tonumber(redis.call('HGET', rep_key, 'cooldown_until_ms') or '0')
redis.call('HSET', rep_key, 'cooldown_until_ms',
  math.max(cooldown, now + (rep.penalty_cooldown_ms or 0)))
redis.call('HINCRBY', rep_key, 'misses', 1)
if (rep.reclaim_lockout_ms or 0) > 0 then
  lock_out(lockout_key, lead_id, cid, now + rep.reclaim_lockout_ms, now)
end
emit(events_key, events_maxlen, EVENT.REVOKED, {'lead_id', lead_id, 'rep', holder,
  'reason', kind})
local seq = emit(events_key, events_maxlen, EVENT.LEAD, {'lead_id', lead_id,
  'payload', lead[4], 'published_ms', now, 'reoffer', '1',
  'audience', cjson.encode({except_reps = {holder}})})
redis.call('HSET', lead_key, 'state', 'open', 'holder', '', 'seq', seq)
redis.call('ZADD', KEYS[11], now, lead_id)
redis.call('HDEL', lead_key, 'claimed_ms')
audit(audit_key, audit_maxlen, {
  action = ACTION.RECYCLE, lead = lead_id, rep = holder, actor = 'system', result = 'ok',
  reason = kind, seq = seq, rules_version = version, ts = now,
}, trail_key)
return {'recycled', holder}
