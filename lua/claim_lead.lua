--[[ claim_lead.lua — decide one rep's claim on one lead, atomically.

Checks, in this fixed order (the first that fails decides):
  0. a stored result for (rep, req_id, lead) -> that same result again (idempotent retry; a
                                            stored 'pending' returns the settled result once
                                            the lead's window was settled)
  1. more than max_claims_per_s attempts by this rep in this second -> rejected rate_limited
  2. lead unknown                        -> rejected not_found
  3. lead closed or withdrawn            -> rejected closed
  4. rep unknown, inactive, wrong region, missing a required skill, or of a tier that no
     release stage of the lead includes  -> rejected ineligible
  5. rep locked out of this lead or its customer (a former holder) -> rejected locked_out
  6. lead held by someone else           -> lost   (held by this rep already: won, no change)
     lead in a window that has closed    -> lost   (settlement is due)
     rep already a candidate in the open window -> pending (no change)
  7. rep paused, off shift, before the rep's release stage, or inside another rep's
     owner window                        -> rejected not_open (retry_after_ms when known)
  8. rep cooling down                    -> rejected cooldown    (retry_after_ms until it ends)
  9. rep holds max_open leads            -> rejected quota_open
 10. rep won max_daily today (team zone) -> rejected quota_daily (retry_after_ms until local midnight)
 11. lead mode 'window'                  -> pending: the first valid claim opens a window of the
                                            lead's window_ms, later ones join it as candidates;
                                            settle_window.lua decides when it closes
                                            (retry_after_ms: time left until it closes)
     otherwise ('fcfs')                  -> won: the hold starts (deadline timers, customer
                                            ownership), lead_taken goes to everyone
Facts about whether the lead could ever be this rep's come first; the rep's own limits
only matter for a lead that is still up for grabs. Steps 4-5 and 7-10 are lib/availability.lua's
may_take (TAKE.CLAIM_FACTS, then TAKE.CLAIM_NOW).

KEYS[1]   lg:{team}:rules            hash: version, rep:<id> -> rules JSON
KEYS[2]   lg:{team}:days             zset: local date scored by its midnight (UTC ms)
KEYS[3]   lg:{team}:lead:<lead_id>   hash: lead state
KEYS[4]   lg:{team}:rep:<rep>        hash: day, day_count, cooldown_until_ms
KEYS[5]   lg:{team}:held:<rep>       set: lead ids the rep holds
KEYS[6]   lg:{team}:req:<rep>:<req>:<lead_id>  string: stored reply for idempotent retries
KEYS[7]   lg:{team}:audit            stream: audit trail
KEYS[8]   lg:{team}:events           stream: offers and decisions
KEYS[9]   lg:{team}:trail:<lead_id>  list: this lead's audit entry ids
KEYS[10]  lg:{team}:cand:<lead_id>   hash: window candidates, rep -> JSON {req, result, reason}
KEYS[11]  lg:{team}:timers           zset: due timers, 'settle:<lead_id>' scored by due ms
KEYS[12]  lg:{team}:rate:<rep>       string: claim attempts in the current second
KEYS[13]  lg:{team}:lockout:<rep>    hash: 'lead:<id>' / 'cust:<id>' -> locked until (ms)
KEYS[14]  lg:{team}:cust:<cid>       hash: customer owner, owner_until_ms, holder, held_count
KEYS[15]  lg:{team}:shift:<rep>      zset: the rep's shifts, 'start:end' scored by start (ms)
KEYS[16]  lg:{team}:pool             zset: open leads, scored by when they (re)opened (ms)

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  rep id
ARGV[3]  lead id
ARGV[4]  request id (client-chosen)
ARGV[5]  how long the stored reply is kept, ms
ARGV[6]  audit stream max length (approximate trim)
ARGV[7]  events stream max length (approximate trim)
ARGV[8]  the lead's customer id as the caller believes it ('' for none)

Returns  {result, reason, retry_after_ms, rules_version}, or {'stale', '', 0, version} when
         ARGV[8] is not the lead's customer id (nothing changed; call again with it)
         result: 'won' | 'lost' | 'rejected' | 'pending'; reason: a code from
         lib/reasons.lua or ''; retry_after_ms: 0 when waiting would not help.
Emits    audit entry action=claim (every decision, including lost, rejected and pending);
         events entry type=taken when an fcfs claim is won.
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/events.lua"
-- @include "lib/availability.lua"
-- @include "lib/holding.lua"

local rules_key, days_key, lead_key, rep_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local held_key, req_key, audit_key, events_key = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local trail_key, cand_key, timers_key, rate_key = KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local lockout_key, cust_key, shift_key, pool_key = KEYS[13], KEYS[14], KEYS[15], KEYS[16]
local now = clock_ms(ARGV[1])
local rep_id, lead_id, req_id = ARGV[2], ARGV[3], ARGV[4]
local req_ttl_ms, audit_maxlen, events_maxlen, cid = ARGV[5], ARGV[6], ARGV[7], ARGV[8]

local stored = redis.call('GET', req_key)
if stored then
  local reply = cjson.decode(stored)
  if reply[1] == 'pending' then
    local cand = redis.call('HGET', cand_key, rep_id)
    local settled = cand and cjson.decode(cand)
    if settled and settled.req == req_id and settled.result then
      return {settled.result, settled.reason or '', 0, reply[4]}
    end
  end
  return reply
end

local version = tonumber(redis.call('HGET', rules_key, 'version') or '0')

local function finish(result, reason, retry_after_ms, note)
  if redis.call('EXISTS', lead_key) == 0 then
    trail_key = nil  -- nothing about a lead that does not exist is kept but what expires
  end
  if retry_after_ms and retry_after_ms <= 0 then
    retry_after_ms = nil
  end
  local reply = {result, reason or '', retry_after_ms or 0, version}
  redis.call('SET', req_key, cjson.encode(reply), 'PX', req_ttl_ms)
  audit(audit_key, audit_maxlen, {
    action = ACTION.CLAIM, lead = lead_id, rep = rep_id, actor = rep_id, req = req_id,
    result = result, reason = reason, retry_after_ms = retry_after_ms, note = note,
    rules_version = version, ts = now,
  }, trail_key)
  return reply
end

local rep_json = redis.call('HGET', rules_key, 'rep:' .. rep_id)
local rep = rep_json and cjson.decode(rep_json)
if rep and (rep.max_claims_per_s or 0) > 0 then
  local attempts = redis.call('INCR', rate_key)
  if attempts == 1 then
    redis.call('PEXPIRE', rate_key, 1000)
  end
  if attempts > rep.max_claims_per_s then
    return finish('rejected', R.RATE_LIMITED, math.max(redis.call('PTTL', rate_key), 1))
  end
end

local f = redis.call('HMGET', lead_key, 'state', 'holder', 'region', 'skills', 'mode',
  'window_ms', 'window_ends_ms', 'customer_id', 'owner', 'owner_until_ms', 'stages',
  'release_base_ms', 'published_ms')
local lead = {state = f[1], holder = f[2], region = f[3], skills = f[4], mode = f[5],
  window_ms = f[6], window_ends = f[7], cid = f[8] or '', owner = f[9] or '',
  owner_until = f[10] or '0', stages = f[11], base = f[12] or f[13] or '0'}
if finished(lead.state) then
  return finish('rejected', finished(lead.state))
end
local take = {checks = TAKE.CLAIM_FACTS, rep = rep, rep_id = rep_id, lead = lead,
  lead_id = lead_id, cid = lead.cid, now = now, lockout_key = lockout_key}
local why, retry_after_ms = may_take(take)
if why == R.INELIGIBLE then
  return finish('rejected', why)
end
if lead.cid ~= cid then
  return {'stale', '', 0, version}
end
if why then
  return finish('rejected', why, retry_after_ms)
end
if lead.state == 'held' then
  if lead.holder == rep_id then
    return finish('won', nil, nil, NOTE.ALREADY_HOLDER)
  end
  return finish('lost')
end
if lead.state == 'window' then
  if now >= tonumber(lead.window_ends) then
    return finish('lost', nil, nil, NOTE.WINDOW_CLOSED)
  end
  local mine = redis.call('HGET', cand_key, rep_id)
  if mine and not cjson.decode(mine).result then
    return finish('pending', nil, tonumber(lead.window_ends) - now, NOTE.ALREADY_CANDIDATE)
  end
end
take.checks, take.shift_key, take.days_key = TAKE.CLAIM_NOW, shift_key, days_key
take.state = redis.call('HMGET', rep_key, 'cooldown_until_ms', 'day', 'day_count', 'paused')
take.open = redis.call('SCARD', held_key)
why, retry_after_ms = may_take(take)
if why then
  return finish('rejected', why, retry_after_ms)
end

if lead.mode == 'window' then
  local ends = tonumber(lead.window_ends or '0')
  if lead.state == 'open' then
    ends = now + tonumber(lead.window_ms)
    redis.call('HSET', lead_key, 'state', 'window', 'window_ends_ms', ends)
    redis.call('ZADD', timers_key, ends, 'settle:' .. lead_id)
  end
  redis.call('HSET', cand_key, rep_id, cjson.encode({req = req_id, ts = now}))
  return finish('pending', nil, ends - now)
end

start_hold({pool_key = pool_key, rep_id = rep_id, rep = rep, lead_id = lead_id, lead_key = lead_key,
  rep_key = rep_key, held_key = held_key, days_key = days_key, timers_key = timers_key,
  cust_key = cust_key, cid = cid, now = now, counts = true, cooldown = true,
  team = cjson.decode(redis.call('HGET', rules_key, 'team') or '{}')})
emit(events_key, events_maxlen, EVENT.TAKEN, {'lead_id', lead_id, 'ts', now})
return finish('won')
