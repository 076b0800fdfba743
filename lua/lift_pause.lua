--[[ lift_pause.lua — a complaint penalty's pause ends: the rep resumes as with pause_rep.lua.

Fires the 'resume:<rep>' timer rule_complaint.lua set. Resumes only a pause that is still
the penalty's (the rep was not resumed and paused again by hand meanwhile).

KEYS[1]  lg:{team}:rep:<rep>  hash: rep state (paused, paused_changed_ms, penalty_paused_ms;
                              a resume keeps when the pause began in away_from_ms)
KEYS[2]  lg:{team}:timers     zset: due timers
KEYS[3]  lg:{team}:audit      stream: audit trail
KEYS[4]  lg:{team}:events     stream: the pause event
KEYS[5]  lg:{team}:rules      hash: version

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  rep id
ARGV[3]  audit stream max length (approximate trim)
ARGV[4]  events stream max length (approximate trim)

Returns  {'ok', rep} (resumed), {'noop', ''} (no timer, or not the penalty's pause any more),
         {'early', due ms}.
Emits    events entry type=pause (paused=0); audit entry action=resume (actor system,
         reason penalty_ended).
]]
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/events.lua"

local rep_key, timers_key, audit_key, events_key, rules_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4],
  KEYS[5]
local now = clock_ms(ARGV[1])
local rep_id, audit_maxlen, events_maxlen = ARGV[2], ARGV[3], ARGV[4]

local due = redis.call('ZSCORE', timers_key, 'resume:' .. rep_id)
if not due then
  return {'noop', ''}
end
if tonumber(due) > now then
  return {'early', due}
end
redis.call('ZREM', timers_key, 'resume:' .. rep_id)
local state = redis.call('HMGET', rep_key, 'paused', 'paused_changed_ms', 'penalty_paused_ms')
redis.call('HDEL', rep_key, 'penalty_paused_ms', 'pause_until_ms')
if state[1] ~= '1' or not state[3] or state[2] ~= state[3] then
  return {'noop', ''}
end
redis.call('HSET', rep_key, 'paused', '0', 'paused_changed_ms', now, 'away_from_ms', state[2])
emit(events_key, events_maxlen, EVENT.PAUSE, {'rep', rep_id, 'paused', '0'})
audit(audit_key, audit_maxlen, {
  action = ACTION.RESUME, rep = rep_id, actor = 'system', result = 'ok',
  reason = 'penalty_ended', rules_version = redis.call('HGET', rules_key, 'version') or '0',
  ts = now,
})
return {'ok', rep_id}
