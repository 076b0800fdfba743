--[[ record_tier.lua — move a rep's earned tier, or pin / unpin it, with the rules it brings.

The tier decides the rep's effective rules, so the move and the new rules are one step: the
tiers hash, the rep's rules JSON, the rules version and its history entry change together
(as load_rules.lua would for the whole team), then the change is audited with the version it
starts. A later load_rules of the same config computes the same digest (it reads the tiers
hash), so a reload or a restart keeps the tier.

KEYS[1]  lg:{team}:rules          hash: version, digest, team, rep:<id> -> rules JSON
KEYS[2]  lg:{team}:rules_history  hash: version -> that version's rules as JSON
KEYS[3]  lg:{team}:audit          stream: audit trail
KEYS[4]  lg:{team}:events         stream: offers and decisions (the rep's `tier` frame)
KEYS[5]  lg:{team}:tiers          hash: earned:<rep> -> tier, pin:<rep> -> tier

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  rep id
ARGV[3]  field to set: 'earned:<rep>' or 'pin:<rep>'
ARGV[4]  its new value ('' deletes it: no earned tier / unpinned)
ARGV[5]  the field's value the caller read ('' for none): anything else answers stale
ARGV[6]  the rules version the caller computed the rules from: another answers stale
ARGV[7]  actor ('schedule' or 'manager:<name>')
ARGV[8]  reason: promoted | demoted | pinned | unpinned
ARGV[9]  the rep's effective tier before ('' = none)
ARGV[10] the rep's effective tier after ('' = none)
ARGV[11] digest of the team's rules with the change
ARGV[12] the rep's new rules JSON
ARGV[13] the team's new rules as kept in the history ({"team": ..., "reps": {...}})
ARGV[14] audit stream max length (approximate trim)
ARGV[15] events stream max length (approximate trim)

Returns  {'ok', version}  version: the rules version in force after (unchanged when the
         rules did not change, e.g. a pin to the tier the rep is in)
         {'stale', ''}   the field or the rules version moved since the caller read them
Emits    audit entries action=rules_loaded (when the rules changed; as load_rules.lua) and
         action=tier_change (rep, tier, prev, actor, reason, rules_version); events entry
         type=tier (rep, tier, prev, reason) for the rep's `tier` frame.
]]
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"
-- @include "lib/events.lua"

local rules_key, history_key, audit_key, events_key, tiers_key = KEYS[1], KEYS[2], KEYS[3],
  KEYS[4], KEYS[5]
local now = clock_ms(ARGV[1])
local rep_id, field, value, expected = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local expected_version, actor, reason = tonumber(ARGV[6]), ARGV[7], ARGV[8]
local prev, tier, digest, rep_json, kept = ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13]
local audit_maxlen, events_maxlen = ARGV[14], ARGV[15]

local current = redis.call('HMGET', rules_key, 'version', 'digest')
local version = tonumber(current[1] or '0')
if version ~= expected_version or (redis.call('HGET', tiers_key, field) or '') ~= expected then
  return {'stale', ''}
end

if value == '' then
  redis.call('HDEL', tiers_key, field)
else
  redis.call('HSET', tiers_key, field, value)
end
if current[2] ~= digest then
  version = version + 1
  redis.call('HSET', rules_key, 'version', version, 'digest', digest, 'rep:' .. rep_id, rep_json)
  redis.call('HSET', history_key, version, kept)
  audit(audit_key, audit_maxlen, {
    action = ACTION.RULES_LOADED, actor = 'system', result = 'ok', rules_version = version,
    digest = digest, rules = kept, ts = now,
  })
end
audit(audit_key, audit_maxlen, {
  action = ACTION.TIER_CHANGE, rep = rep_id, tier = tier, prev = prev, actor = actor,
  result = 'ok', reason = reason, rules_version = version, ts = now,
})
emit(events_key, events_maxlen, EVENT.TIER,
  {'rep', rep_id, 'tier', tier, 'prev', prev, 'reason', reason, 'ts', now})
return {'ok', version}
