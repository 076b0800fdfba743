--[[ claim_lead.lua — decide one rep's claim on one lead, atomically.

Checks, in this fixed order (the first that fails decides):
  0. a stored result for (rep, req_id)   -> that same result again (idempotent retry)
  1. lead unknown                        -> rejected not_found
  2. lead closed or withdrawn            -> rejected closed
  3. rep unknown, inactive, wrong region, missing a required skill -> rejected ineligible
  4. lead held by someone else           -> lost   (held by this rep already: won, no change)
  5. rep cooling down                    -> rejected cooldown    (retry_after_ms until it ends)
  6. rep holds max_open leads            -> rejected quota_open
  7. rep won max_daily today (team zone) -> rejected quota_daily (retry_after_ms until local midnight)
  8. otherwise                           -> won
Facts about whether the lead could ever be this rep's come first; the rep's own limits
only matter for a lead that is still up for grabs.

KEYS[1]  lg:{team}:rules            hash: version, rep:<id> -> rules JSON
KEYS[2]  lg:{team}:days             zset: local date scored by its midnight (UTC ms)
KEYS[3]  lg:{team}:lead:<lead_id>   hash: lead state
KEYS[4]  lg:{team}:rep:<rep>        hash: day, day_count, cooldown_until_ms
KEYS[5]  lg:{team}:held:<rep>       set: lead ids the rep holds
KEYS[6]  lg:{team}:req:<rep>:<req>  string: stored reply for idempotent retries
KEYS[7]  lg:{team}:audit            stream: audit trail
KEYS[8]  lg:{team}:events           stream: offers and decisions
KEYS[9]  lg:{team}:trail:<lead_id>  list: this lead's audit entry ids

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  rep id
ARGV[3]  lead id
ARGV[4]  request id (client-chosen)
ARGV[5]  how long the stored reply is kept, ms
ARGV[6]  audit stream max length (approximate trim)
ARGV[7]  events stream max length (approximate trim)

Returns  {result, reason, retry_after_ms, rules_version}
         result: 'won' | 'lost' | 'rejected'; reason: a code from lib/reasons.lua or '';
         retry_after_ms: 0 when waiting would not help.
Emits    audit entry action=claim (every decision, including lost and rejected);
         events entry type=taken when the claim is won.
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"

local rules_key, days_key, lead_key, rep_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local held_key, req_key, audit_key, events_key = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local trail_key = KEYS[9]
local now = clock_ms(ARGV[1])
local rep_id, lead_id, req_id = ARGV[2], ARGV[3], ARGV[4]
local req_ttl_ms, audit_maxlen, events_maxlen = ARGV[5], ARGV[6], ARGV[7]

local stored = redis.call('GET', req_key)
if stored then
  return cjson.decode(stored)
end

local version = tonumber(redis.call('HGET', rules_key, 'version') or '0')

local function finish(result, reason, retry_after_ms, note)
  local reply = {result, reason or '', retry_after_ms or 0, version}
  redis.call('SET', req_key, cjson.encode(reply), 'PX', req_ttl_ms)
  audit(audit_key, audit_maxlen, {
    'action', 'claim', 'lead', lead_id, 'rep', rep_id, 'actor', rep_id, 'req', req_id,
    'result', result, 'reason', reason or '', 'retry_after_ms', retry_after_ms or '',
    'note', note or '', 'rules_version', version, 'ts', now,
  }, trail_key)
  return reply
end

local function contains(list, item)
  for _, value in ipairs(list) do
    if value == item then return true end
  end
  return false
end

local function eligible(rep, region, skills_json)
  if not rep.active then return false end
  if region ~= '' and not contains(rep.regions, '*') and not contains(rep.regions, region) then
    return false
  end
  for _, skill in ipairs(cjson.decode(skills_json)) do
    if not contains(rep.skills, skill) then return false end
  end
  return true
end

-- The team-local calendar day containing now, and when the next one starts (UTC ms).
local function today()
  local cur = redis.call('ZREVRANGEBYSCORE', days_key, now, '-inf', 'LIMIT', 0, 1)
  local nxt = redis.call('ZRANGEBYSCORE', days_key, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if cur[1] and nxt[1] then
    return cur[1], tonumber(nxt[2])
  end
  local utc_day = math.floor(now / 86400000)
  return 'utc-' .. utc_day, (utc_day + 1) * 86400000
end

local lead = redis.call('HMGET', lead_key, 'state', 'holder', 'region', 'skills')
local state, holder = lead[1], lead[2]
if not state then
  return finish('rejected', R.NOT_FOUND)
end
if state == 'closed' or state == 'withdrawn' then
  return finish('rejected', R.CLOSED)
end
local rep_json = redis.call('HGET', rules_key, 'rep:' .. rep_id)
if not rep_json then
  return finish('rejected', R.INELIGIBLE)
end
local rep = cjson.decode(rep_json)
if not eligible(rep, lead[3], lead[4]) then
  return finish('rejected', R.INELIGIBLE)
end
if state == 'held' then
  if holder == rep_id then
    return finish('won', nil, nil, 'already_holder')
  end
  return finish('lost')
end

local rs = redis.call('HMGET', rep_key, 'cooldown_until_ms', 'day', 'day_count')
local cooldown_until = tonumber(rs[1] or '0')
if now < cooldown_until then
  return finish('rejected', R.COOLDOWN, cooldown_until - now)
end
if redis.call('SCARD', held_key) >= rep.max_open then
  return finish('rejected', R.QUOTA_OPEN)
end
local day, next_day_ms = today()
local day_count = 0
if rs[2] == day then
  day_count = tonumber(rs[3])
end
if day_count >= rep.max_daily then
  return finish('rejected', R.QUOTA_DAILY, next_day_ms - now)
end

redis.call('HSET', lead_key, 'state', 'held', 'holder', rep_id, 'claimed_ms', now)
redis.call('SADD', held_key, lead_id)
redis.call('HSET', rep_key, 'day', day, 'day_count', day_count + 1,
  'cooldown_until_ms', now + rep.cooldown_after_claim_ms)
redis.call('XADD', events_key, 'MAXLEN', '~', events_maxlen, '*',
  'type', 'taken', 'lead_id', lead_id, 'ts', now)
return finish('won')
