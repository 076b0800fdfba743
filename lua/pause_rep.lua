--[[ pause_rep.lua — pause a rep (out of office) or resume them.

A paused rep is offered nothing and cannot claim (not_open). On resume the servers offer the
rep the open leads it may claim (server/fanout/returns.py); quotas keep counting the same
calendar day across a pause.

KEYS[1]  lg:{team}:rep:<rep>  hash: rep state ('paused' = '1' while paused; a resume keeps
                              when the pause began in 'away_from_ms', for fair catch-up and
                              the open leads offered on return)
KEYS[2]  lg:{team}:audit      stream: audit trail
KEYS[3]  lg:{team}:events     stream: offers and decisions
KEYS[4]  lg:{team}:rules      hash: rep rules (the rep must exist)

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  rep id
ARGV[3]  '1' to pause, '0' to resume
ARGV[4]  actor (the rep, or 'manager:<name>')
ARGV[5]  audit stream max length (approximate trim)
ARGV[6]  events stream max length (approximate trim)

Returns  {'ok', paused ('1'|'0'), changed (1|0)} or {'rejected', 'ineligible', 0} for an
         unknown rep.
Emits    events entry type=pause (when it changed); audit entry action=pause|resume.
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/events.lua"

local rep_key, audit_key, events_key, rules_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = clock_ms(ARGV[1])
local rep_id, paused, actor = ARGV[2], ARGV[3], ARGV[4]
local audit_maxlen, events_maxlen = ARGV[5], ARGV[6]

if redis.call('HEXISTS', rules_key, 'rep:' .. rep_id) == 0 then
  return {'rejected', R.INELIGIBLE, 0}
end
local was = redis.call('HGET', rep_key, 'paused') or '0'
if was == paused then
  return {'ok', paused, 0}
end
if paused == '0' then
  redis.call('HSET', rep_key, 'away_from_ms', redis.call('HGET', rep_key, 'paused_changed_ms') or now)
end
redis.call('HSET', rep_key, 'paused', paused, 'paused_changed_ms', now)
emit(events_key, events_maxlen, EVENT.PAUSE, {'rep', rep_id, 'paused', paused})
local action = ACTION.RESUME
if paused == '1' then action = ACTION.PAUSE end
audit(audit_key, audit_maxlen, {
  action = action, rep = rep_id, actor = actor, result = 'ok',
  rules_version = redis.call('HGET', rules_key, 'version') or '0', ts = now,
})
return {'ok', paused, 1}
