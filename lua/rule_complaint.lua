--[[ rule_complaint.lua — a manager's ruling on a complaint, or on the rep's appeal of it.

step 'ruling': a `received` complaint becomes `upheld` or `dismissed`. Upheld applies the
rep's `complaint_penalties` for its category (rules in force): a penalty cooldown from now
(kept only if it ends later than the rep's current one) and a pause of offers for pause_ms
(not when the rep is paused already; a 'resume:<rep>' timer ends it, lift_pause.lua), and
opens the appeal window (team complaints.appeal_window_ms). Dismissed changes nothing else.
step 'appeal_ruling': an `appealed` complaint becomes `overturned` (its penalty reversed:
the cooldown back to what it was unless something since moved it, the pause ended now if it
is still this complaint's) or `rejected` (the penalty stands).

KEYS[1]  lg:{team}:rules          hash: the rep's rules (complaint_penalties), team, version
KEYS[2]  lg:{team}:fb:<ref>       hash: the complaint
KEYS[3]  lg:{team}:rep:<rep>      hash: the complaint's rep (cooldown, pause)
KEYS[4]  lg:{team}:audit          stream: audit trail
KEYS[5]  lg:{team}:events         stream: complaint and pause events
KEYS[6]  lg:{team}:timers         zset: due timers ('resume:<rep>')
KEYS[7]  lg:{team}:trail:<lead>   list: the complaint's lead's audit entry ids

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  ref (the complaint's feedback id)
ARGV[3]  step: 'ruling' | 'appeal_ruling'
ARGV[4]  decision: upheld | dismissed (ruling), overturned | rejected (appeal_ruling)
ARGV[5]  actor ('manager:<name>')
ARGV[6]  reason (investigation notes)
ARGV[7]  the complaint's rep as the caller read it (KEYS[3])
ARGV[8]  audit stream max length (approximate trim)
ARGV[9]  events stream max length (approximate trim)

Returns  {'ok', rep, new status} or {'rejected', reason}: not_found | not_complaint |
         already_ruled | not_appealed; {'stale', rep} when ARGV[7] is not its rep.
Emits    audit entry action=complaint_ruling | appeal_ruling (and pause | resume when the
         penalty pauses or an overturn resumes the rep); events entries type=complaint (to the
         rep) and type=pause.
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/events.lua"

local rules_key, fb_key, rep_key, audit_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local events_key, timers_key, trail_key = KEYS[5], KEYS[6], KEYS[7]
local now = clock_ms(ARGV[1])
local ref, step, decision, actor, why = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local expected_rep, audit_maxlen, events_maxlen = ARGV[7], ARGV[8], ARGV[9]

local DECISIONS = {ruling = {upheld = true, dismissed = true},
  appeal_ruling = {overturned = true, rejected = true}}
if not (DECISIONS[step] or {})[decision] then
  error('rule_complaint: no decision ' .. decision .. ' at step ' .. step)  -- a caller's fault
end
local fb = redis.call('HMGET', fb_key, 'kind', 'rep', 'status', 'lead', 'category',
  'penalty_cooldown_until', 'prev_cooldown_until', 'penalty_paused_ms')
if not fb[1] then
  return {'rejected', R.NOT_FOUND}
end
if fb[1] ~= 'complaint' then
  return {'rejected', R.NOT_COMPLAINT}
end
local rep_id, status, lead_id, category = fb[2], fb[3], fb[4], fb[5]
if rep_id ~= expected_rep then
  return {'stale', rep_id}
end
if step == 'ruling' and status ~= 'received' then
  return {'rejected', R.ALREADY_RULED}
end
if step == 'appeal_ruling' and status ~= 'appealed' then
  return {'rejected', R.NOT_APPEALED}
end
local version = redis.call('HGET', rules_key, 'version') or '0'

-- Pause or resume the rep as pause_rep.lua does (events pause entry, audit pause|resume).
local function set_paused(paused, reason)
  if paused == '0' then  -- as pause_rep.lua: when the pause began, for the return's offers
    redis.call('HSET', rep_key, 'away_from_ms',
      redis.call('HGET', rep_key, 'paused_changed_ms') or now)
  end
  redis.call('HSET', rep_key, 'paused', paused, 'paused_changed_ms', now)
  emit(events_key, events_maxlen, EVENT.PAUSE, {'rep', rep_id, 'paused', paused})
  local action = ACTION.RESUME
  if paused == '1' then action = ACTION.PAUSE end
  audit(audit_key, audit_maxlen, {action = action, rep = rep_id, actor = actor, result = 'ok',
    reason = reason, ref = ref, rules_version = version, ts = now})
end

local function penalise()
  local rep = cjson.decode(redis.call('HGET', rules_key, 'rep:' .. rep_id) or '{}')
  local penalty = (rep.complaint_penalties or {})[category] or {}
  local state = redis.call('HMGET', rep_key, 'cooldown_until_ms', 'paused')
  local current = tonumber(state[1] or '0')
  local cooldown = now + (penalty.cooldown_ms or 0)
  if (penalty.cooldown_ms or 0) > 0 and cooldown > current then
    redis.call('HSET', rep_key, 'cooldown_until_ms', cooldown)
    redis.call('HSET', fb_key, 'penalty_cooldown_until', cooldown, 'prev_cooldown_until', current)
  end
  if (penalty.pause_ms or 0) > 0 and state[2] ~= '1' then
    set_paused('1', 'complaint')
    redis.call('HSET', rep_key, 'penalty_paused_ms', now, 'pause_until_ms', now + penalty.pause_ms)
    redis.call('HSET', fb_key, 'penalty_paused_ms', now, 'pause_until_ms', now + penalty.pause_ms)
    redis.call('ZADD', timers_key, now + penalty.pause_ms, 'resume:' .. rep_id)
  end
end

local function reverse()
  local state = redis.call('HMGET', rep_key, 'cooldown_until_ms', 'paused', 'paused_changed_ms')
  if fb[6] and state[1] == fb[6] then
    redis.call('HSET', rep_key, 'cooldown_until_ms', fb[7] or '0')
  end
  if fb[8] and state[2] == '1' and state[3] == fb[8] then
    set_paused('0', 'overturned')
    redis.call('HDEL', rep_key, 'penalty_paused_ms', 'pause_until_ms')
    redis.call('ZREM', timers_key, 'resume:' .. rep_id)
  end
end

local action = ACTION.COMPLAINT_RULING
if step == 'appeal_ruling' then action = ACTION.APPEAL_RULING end
local field_ms, field_reason = 'ruled_ms', 'ruling_reason'
if step == 'appeal_ruling' then field_ms, field_reason = 'resolved_ms', 'appeal_ruling_reason' end
redis.call('HSET', fb_key, 'status', decision, field_ms, now, field_reason, why,
  step .. '_by', actor)
audit(audit_key, audit_maxlen, {
  action = action, lead = lead_id, rep = rep_id, actor = actor, ref = ref,
  category = category, status = decision, reason = why, rules_version = version, ts = now,
}, trail_key)
if decision == 'upheld' then
  local team = cjson.decode(redis.call('HGET', rules_key, 'team') or '{}')
  redis.call('HSET', fb_key, 'appeal_until', now + ((team.complaints or {}).appeal_window_ms or 0))
end
emit(events_key, events_maxlen, EVENT.COMPLAINT, {'rep', rep_id, 'ref', ref, 'lead_id', lead_id,
  'status', decision, 'category', category, 'reason', why,
  'appeal_until', redis.call('HGET', fb_key, 'appeal_until') or ''})
if decision == 'upheld' then
  penalise()
elseif decision == 'overturned' then
  reverse()
end
return {'ok', rep_id, decision}
