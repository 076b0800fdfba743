--[[ load_rules.lua — replace a team's effective rules and local-day table atomically.

A claim running before this script sees the old rules, one running after sees the
new ones; never a mix. The version only moves when the rules' digest changes, so
several server instances loading the same config agree on one version.

KEYS[1]  lg:{team}:rules   hash: version, digest, team, rep:<id> -> rules JSON
KEYS[2]  lg:{team}:days    zset: local date (YYYY-MM-DD) scored by UTC ms of its midnight
KEYS[3]  lg:{team}:audit   stream: audit trail
KEYS[4]  lg:{team}:rules_history  hash: version -> that version's rules as JSON
         {"team": settings, "reps": {id: rules}} (kept, so any version can be loaded again)
KEYS[5..] lg:{team}:shift:<rep> for each rep row, in order: zset of 'start:end' (UTC ms)

ARGV[1]  now override in ms ('' = Redis TIME; tests only)
ARGV[2]  digest of the rules (opaque string); '' refreshes the day and shift tables only
ARGV[3]  team settings as JSON
ARGV[4]  audit stream max length (approximate trim)
ARGV[5]  n = number of day rows that follow
ARGV[6 .. 5+2n]   day rows: midnight ms, date
ARGV[6+2n .. ]    rep rows: rep id, rules JSON, shifts JSON (a list of [start_ms, end_ms] pairs)

Returns  {version, changed}  version: integer; changed: 1 if the rules were replaced, 0 if
         the digest was already loaded (the day table and shifts are refreshed either way).
Emits    audit entry action=rules_loaded (only when changed), with the version's rules JSON
         in `rules` (as kept in the history).
]]
-- @include "lib/clock.lua"
-- @include "lib/audit.lua"

local rules_key, days_key, audit_key, history_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = clock_ms(ARGV[1])
local digest, team_json, audit_maxlen = ARGV[2], ARGV[3], ARGV[4]
local n_days = tonumber(ARGV[5])
local CHUNK = 400

local function call_chunked(cmd, key, first, last)
  for i = first, last, CHUNK * 2 do
    local args = {cmd, key}
    for j = i, math.min(i + CHUNK * 2 - 1, last) do
      args[#args + 1] = ARGV[j]
    end
    redis.call(unpack(args))
  end
end

redis.call('DEL', days_key)
if n_days > 0 then
  call_chunked('ZADD', days_key, 6, 5 + 2 * n_days)
end

local first_rep = 6 + 2 * n_days
local rep_fields, roster = {}, {}
for i = first_rep, #ARGV, 3 do
  local shift_key = KEYS[5 + (i - first_rep) / 3]
  redis.call('DEL', shift_key)
  for _, span in ipairs(cjson.decode(ARGV[i + 2])) do
    redis.call('ZADD', shift_key, span[1], span[1] .. ':' .. span[2])
  end
  rep_fields[#rep_fields + 1] = 'rep:' .. ARGV[i]
  rep_fields[#rep_fields + 1] = ARGV[i + 1]
  roster[#roster + 1] = cjson.encode(ARGV[i]) .. ':' .. ARGV[i + 1]
end

local current = redis.call('HMGET', rules_key, 'version', 'digest')
local version = tonumber(current[1] or '0')
if digest == '' or current[2] == digest then
  return {version, 0}
end

version = version + 1
redis.call('DEL', rules_key)
redis.call('HSET', rules_key, 'version', version, 'digest', digest, 'team', team_json)
for i = 1, #rep_fields, CHUNK * 2 do
  redis.call('HSET', rules_key, unpack(rep_fields, i, math.min(i + CHUNK * 2 - 1, #rep_fields)))
end
local kept = '{"team":' .. team_json .. ',"reps":{' .. table.concat(roster, ',') .. '}}'
redis.call('HSET', history_key, version, kept)
audit(audit_key, audit_maxlen, {
  action = ACTION.RULES_LOADED, actor = 'system', result = 'ok', rules_version = version,
  digest = digest, rules = kept, ts = now,
})
return {version, 1}
