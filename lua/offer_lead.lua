--[[ offer_lead.lua — a lead's offer timer is due: offer it to the next audience.

'stage:<id>#<n>' offers the lead to the tiers of release stage n ('*' = every tier not in
an earlier stage); 'open:<id>' ends the owner window and offers it to everyone else.
Only the first caller fires a timer; a lead no longer open is not offered.

KEYS[1]  lg:{team}:lead:<lead_id>   hash: lead state, stages, owner
KEYS[2]  lg:{team}:timers           zset: due timers
KEYS[3]  lg:{team}:events           stream: offers and decisions
KEYS[4]  lg:{team}:audit            stream: audit trail
KEYS[5]  lg:{team}:trail:<lead_id>  list: this lead's audit entry ids
KEYS[6]  lg:{team}:rules            hash: the rules version (for the audit entry)

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  timer member
ARGV[3]  lead id
ARGV[4]  events stream max length (approximate trim)
ARGV[5]  audit stream max length (approximate trim)

Returns  {'offered', seq}; {'early', due ms}; {'noop', ''} (timer gone, or lead not open).
Emits    events entry type=lead with the audience; audit entry action=offer.
]]
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/events.lua"
-- @include "lib/timer.lua"

local lead_key, timers_key, events_key, audit_key, trail_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local rules_key = KEYS[6]
local now = clock_ms(ARGV[1])
local member, lead_id, events_maxlen, audit_maxlen = ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local pending = not_due(timers_key, member, now)
if pending then
  return pending
end
redis.call('ZREM', timers_key, member)
local lead = redis.call('HMGET', lead_key, 'state', 'payload', 'stages', 'owner', 'published_ms')
if lead[1] ~= 'open' and lead[1] ~= 'window' then
  return {'noop', ''}
end

local audience
local n = tonumber(string.match(member, '#(%d+)$') or '0')
if n > 0 then
  local stages = cjson.decode(lead[3])
  local tiers, earlier = stages[n].tiers, {}
  for i = 1, n - 1 do
    for _, tier in ipairs(stages[i].tiers) do earlier[#earlier + 1] = tier end
  end
  audience = {tiers = tiers}
  for _, tier in ipairs(tiers) do
    if tier == '*' then audience = {except_tiers = earlier} end
  end
else
  audience = {except_reps = {lead[4]}}
end
local encoded = cjson.encode(audience)
local seq = emit(events_key, events_maxlen, EVENT.LEAD, {'lead_id', lead_id,
  'payload', lead[2], 'published_ms', lead[5], 'audience', encoded})
audit(audit_key, audit_maxlen, {
  action = ACTION.OFFER, lead = lead_id, actor = 'system', result = 'ok', seq = seq,
  audience = encoded, rules_version = redis.call('HGET', rules_key, 'version') or '0', ts = now,
}, trail_key)
return {'offered', seq}
