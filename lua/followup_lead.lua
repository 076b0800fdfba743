--[[ followup_lead.lua — the holder records progress on a lead (a call, a visit, a quote).

The first follow-up meets the follow-up deadline; from then on each follow-up restarts the
max-hold deadline (no deadline when the rep's max_hold_ms is 0).

KEYS[1]  lg:{team}:rules            hash: rep rules (followup_sla_ms, max_hold_ms, warn_before_ms)
KEYS[2]  lg:{team}:lead:<lead_id>   hash: lead state
KEYS[3]  lg:{team}:timers           zset: due timers ('deadline:<id>', 'warn:<id>')
KEYS[4]  lg:{team}:audit            stream: audit trail
KEYS[5]  lg:{team}:trail:<lead_id>  list: this lead's audit entry ids

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  rep id (must be the holder)
ARGV[3]  lead id
ARGV[4]  note (free text, may be '')
ARGV[5]  audit stream max length (approximate trim)

Returns  {'ok', '', next deadline ms or 0} or {'rejected', reason, 0} with reason
         not_found | closed | not_holder.
Emits    audit entry action=followup.
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/holding.lua"

local rules_key, lead_key, timers_key, audit_key, trail_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = clock_ms(ARGV[1])
local rep_id, lead_id, note, audit_maxlen = ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local lead = redis.call('HMGET', lead_key, 'state', 'holder')
if finished(lead[1]) then
  return {'rejected', finished(lead[1]), 0}
end
if lead[1] ~= 'held' or lead[2] ~= rep_id then
  return {'rejected', R.NOT_HOLDER, 0}
end

local rep = cjson.decode(redis.call('HGET', rules_key, 'rep:' .. rep_id) or '{}')
set_deadline(lead_key, timers_key, lead_id, rep, now, true)
redis.call('HSET', lead_key, 'followed_up_ms', now)
redis.call('HINCRBY', lead_key, 'followups', 1)
local deadline = tonumber(redis.call('HGET', lead_key, 'deadline_ms') or '0')
audit(audit_key, audit_maxlen, {
  action = ACTION.FOLLOWUP, lead = lead_id, rep = rep_id, actor = rep_id, result = 'ok',
  note = note, deadline_ms = deadline,
  rules_version = redis.call('HGET', rules_key, 'version') or '0', ts = now,
}, trail_key)
return {'ok', '', deadline}
