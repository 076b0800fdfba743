--[[ publish_lead.lua — store a new lead once and offer it on the team's event stream.

Idempotent on the lead id: publishing an id that exists changes nothing and returns
the entry id of its first offer.

KEYS[1]  lg:{team}:lead:<id>  hash: the lead's attributes and state
KEYS[2]  lg:{team}:events     stream: offers (type=lead) and decisions (type=taken)
KEYS[3]  lg:{team}:audit      stream: audit trail
KEYS[4]  lg:{team}:trail:<id> list: this lead's audit entry ids

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  lead id
ARGV[3]  public payload as JSON (value, priority, region, skills, mode, customer_id, attrs;
         window_ms and window_policy when mode is 'window')
ARGV[4]  events stream max length (approximate trim)
ARGV[5]  audit stream max length (approximate trim)
ARGV[6]  actor (who published: integration name or manager)

Returns  {'published', seq} for a new lead, {'duplicate', seq} for a known id;
         seq is the lead's entry id on the events stream.
Emits    events entry type=lead; audit entry action=publish.
]]
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"

local lead_key, events_key, audit_key, trail_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = clock_ms(ARGV[1])
local lead_id, payload_json = ARGV[2], ARGV[3]
local events_maxlen, audit_maxlen, actor = ARGV[4], ARGV[5], ARGV[6]

local existing = redis.call('HGET', lead_key, 'seq')
if existing then
  return {'duplicate', existing}
end

local payload = cjson.decode(payload_json)
local seq = redis.call('XADD', events_key, 'MAXLEN', '~', events_maxlen, '*',
  'type', 'lead', 'lead_id', lead_id, 'payload', payload_json, 'published_ms', now)
redis.call('HSET', lead_key,
  'state', 'open', 'holder', '', 'payload', payload_json,
  'region', payload.region or '', 'skills', cjson.encode(payload.skills or {}),
  'customer_id', payload.customer_id or '', 'published_ms', now, 'seq', seq,
  'mode', payload.mode or 'fcfs', 'window_ms', payload.window_ms or 0,
  'window_policy', payload.window_policy or '')
audit(audit_key, audit_maxlen, {
  'action', 'publish', 'lead', lead_id, 'actor', actor, 'result', 'ok', 'seq', seq, 'ts', now,
}, trail_key)
return {'published', seq}
