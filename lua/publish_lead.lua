--[[ publish_lead.lua — store a new lead once and offer it on the team's event stream.

Idempotent on the lead id: publishing an id that exists changes nothing and returns the
entry id of its first offer. What happens to a new lead, in this order:
  - its customer already has an open lead held by a rep: a duplicate (撞单); it is assigned
    to that holder at once, with no race (no quota or cooldown counted);
  - its customer is owned (won or held within the team's protection_period_ms): only the
    owner is offered it, for owner_window_ms; release stages then count from the window's end;
  - it is worth at least the team's release.min_value: release stages; the first offer goes
    to the tiers whose stage opens at once, later stages are offered by timers;
  - otherwise it is offered to every eligible rep.
With an assign_policy, a timer assigns it if nobody claimed it within auto_assign_after_ms.

KEYS[1]   lg:{team}:lead:<id>      hash: the lead's attributes and state
KEYS[2]   lg:{team}:events         stream: offers and decisions
KEYS[3]   lg:{team}:audit          stream: audit trail
KEYS[4]   lg:{team}:trail:<id>     list: this lead's audit entry ids
KEYS[5]   lg:{team}:timers         zset: due timers ('open:', 'stage:<id>#<n>', 'auto:')
KEYS[6]   lg:{team}:cust:<cid>     hash: the customer's owner and current holder
KEYS[7]   lg:{team}:rules          hash: rep rules (for a duplicate's holder), version
KEYS[8]   lg:{team}:days           zset: local days
KEYS[9]   lg:{team}:rep:<holder>   hash: state of the customer's current holder (or a placeholder)
KEYS[10]  lg:{team}:held:<holder>  set: leads of the customer's current holder (or a placeholder)
KEYS[11]  lg:{team}:pool          zset: open leads, scored by when they (re)opened (ms)

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  lead id
ARGV[3]  public payload as JSON (value, priority, region, skills, mode, customer_id, attrs;
         window_ms and window_policy when mode is 'window')
ARGV[4]  events stream max length (approximate trim)
ARGV[5]  audit stream max length (approximate trim)
ARGV[6]  actor (who published: integration name or manager)
ARGV[7]  policy JSON: {stages: [{tiers, after_ms}] | null, owner_window_ms,
         auto_assign_after_ms, assign_policy}
ARGV[8]  the customer's current holder as the caller read it ('' for none)

Returns  {'published', seq} for a new lead, {'assigned', seq} for a duplicate given to its
         customer's holder, {'duplicate', seq} for a known id, {'stale', ''} when ARGV[8]
         is not the customer's holder any more (nothing changed; read it again).
Emits    events entry type=lead (with an audience) or type=assigned; audit entries
         action=publish (with the payload and rules_version: a replay publishes it again)
         and action=assign for a duplicate.
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/events.lua"
-- @include "lib/holding.lua"

local lead_key, events_key, audit_key, trail_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local timers_key, cust_key, rules_key, days_key = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local holder_rep_key, holder_held_key, pool_key = KEYS[9], KEYS[10], KEYS[11]
local now = clock_ms(ARGV[1])
local lead_id, payload_json = ARGV[2], ARGV[3]
local events_maxlen, audit_maxlen, actor = ARGV[4], ARGV[5], ARGV[6]
local policy, expected_holder = cjson.decode(ARGV[7]), ARGV[8]

local existing = redis.call('HGET', lead_key, 'seq')
if existing then
  return {'duplicate', existing}
end

local payload = cjson.decode(payload_json)
local cid = payload.customer_id or ''
local cust = {false, false, false}
if cid ~= '' then
  cust = redis.call('HMGET', cust_key, 'holder', 'owner', 'owner_until_ms')
end
local holder = cust[1] or ''
if holder ~= expected_holder then
  return {'stale', ''}
end

local version = redis.call('HGET', rules_key, 'version') or '0'
local stages = ''
if type(policy.stages) == 'table' then
  stages = cjson.encode(policy.stages)
end
redis.call('HSET', lead_key,
  'state', 'open', 'holder', '', 'payload', payload_json,
  'region', payload.region or '', 'skills', cjson.encode(payload.skills or {}),
  'customer_id', cid, 'published_ms', now, 'release_base_ms', now,
  'mode', payload.mode or 'fcfs', 'window_ms', payload.window_ms or 0,
  'window_policy', payload.window_policy or '', 'stages', stages)
audit(audit_key, audit_maxlen, {
  action = ACTION.PUBLISH, lead = lead_id, actor = actor, result = 'ok', customer = cid,
  value = payload.value or '', region = payload.region or '', mode = payload.mode or 'fcfs',
  payload = payload_json, rules_version = version, ts = now,
}, trail_key)

local function offer(audience)
  local seq = emit(events_key, events_maxlen, EVENT.LEAD, {'lead_id', lead_id,
    'payload', payload_json, 'published_ms', now, 'audience', cjson.encode(audience)})
  redis.call('HSET', lead_key, 'seq', seq)
  return seq
end

local holder_rules = holder ~= '' and redis.call('HGET', rules_key, 'rep:' .. holder)
if holder_rules then
  start_hold({pool_key = pool_key, rep_id = holder, rep = cjson.decode(holder_rules), lead_id = lead_id,
    lead_key = lead_key, rep_key = holder_rep_key, held_key = holder_held_key,
    days_key = days_key, timers_key = timers_key, cust_key = cust_key, cid = cid, now = now,
    counts = false, cooldown = false,
    team = cjson.decode(redis.call('HGET', rules_key, 'team') or '{}')})
  local seq = emit(events_key, events_maxlen, EVENT.ASSIGNED, {'lead_id', lead_id,
    'rep', holder, 'payload', payload_json, 'published_ms', now, 'by', 'system',
    'reason', 'duplicate'})
  redis.call('HSET', lead_key, 'seq', seq)
  audit(audit_key, audit_maxlen, {
    action = ACTION.ASSIGN, lead = lead_id, rep = holder, actor = 'system', result = 'ok',
    reason = 'duplicate', customer = cid, rules_version = version, ts = now,
  }, trail_key)
  return {'assigned', seq}
end

local base, audience = now, nil
local owner_window = policy.owner_window_ms or 0
if cust[2] and cust[2] ~= '' and tonumber(cust[3] or '0') > now and owner_window > 0 then
  base = now + owner_window
  audience = {reps = {cust[2]}}
  redis.call('HSET', lead_key, 'owner', cust[2], 'owner_until_ms', base, 'release_base_ms', base)
  if stages == '' then
    redis.call('ZADD', timers_key, base, 'open:' .. lead_id)
  end
end
if stages ~= '' then
  for i, stage in ipairs(policy.stages) do
    if audience == nil and stage.after_ms == 0 and i == 1 then
      audience = {tiers = stage.tiers}
    else
      redis.call('ZADD', timers_key, base + stage.after_ms, 'stage:' .. lead_id .. '#' .. i)
    end
  end
end
if audience == nil and stages ~= '' then
  audience = {reps = {}}  -- no stage opens at once: the stage timers make the offers
end
local seq = offer(audience or {all = true})
redis.call('ZADD', pool_key, now, lead_id)
if (policy.assign_policy or 'none') ~= 'none' and (policy.auto_assign_after_ms or 0) > 0 then
  redis.call('ZADD', timers_key, now + policy.auto_assign_after_ms, 'auto:' .. lead_id)
end
return {'published', seq}
