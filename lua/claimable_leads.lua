--[[ claimable_leads.lua — which of these open leads may this rep claim now (read only).

For the leads offered to a rep coming back (on shift, or resuming): the claim's own checks,
lib/availability.lua's may_take with TAKE.CLAIM_FACTS then TAKE.CLAIM_NOW (eligibility, the
tiers of release stages, lockouts, pause and shift, release stage and owner window, quotas),
less the cooldown, which only delays a claim (live offers reach a rep cooling down too).
Leads no longer open (held, closed, withdrawn, unknown) are left out. Writes nothing.

KEYS[1]    lg:{team}:rules            hash: version, rep:<id> -> rules JSON
KEYS[2]    lg:{team}:days             zset: local date scored by its midnight (UTC ms)
KEYS[3]    lg:{team}:rep:<rep>        hash: day, day_count, paused
KEYS[4]    lg:{team}:held:<rep>       set: lead ids the rep holds
KEYS[5]    lg:{team}:lockout:<rep>    hash: 'lead:<id>' / 'cust:<id>' -> locked until (ms)
KEYS[6]    lg:{team}:shift:<rep>      zset: the rep's shifts, 'start:end' scored by start (ms)
KEYS[7..]  lg:{team}:lead:<lead_id> for each lead, in ARGV order

ARGV[1]    now override in ms ('' = Redis TIME; tests only)
ARGV[2]    rep id
ARGV[3..]  lead ids

Returns  the ids of the leads the rep may claim now, in ARGV order.
Emits    nothing.
]]
-- @include "lib/reasons.lua"
-- @include "lib/clock.lua"
-- @include "lib/availability.lua"

local rules_key, days_key, rep_key, held_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local lockout_key, shift_key = KEYS[5], KEYS[6]
local now = clock_ms(ARGV[1])
local rep_id = ARGV[2]

local rep_json = redis.call('HGET', rules_key, 'rep:' .. rep_id)
local rep = rep_json and cjson.decode(rep_json)
local state = redis.call('HMGET', rep_key, 'cooldown_until_ms', 'day', 'day_count', 'paused')
state[1] = '0'  -- the cooldown delays a claim, it does not rule the lead out
local open = redis.call('SCARD', held_key)

-- Whether the rep may claim the lead behind lead_key now.
local function claimable(lead_id, lead_key)
  local f = redis.call('HMGET', lead_key, 'state', 'region', 'skills', 'customer_id', 'owner',
    'owner_until_ms', 'stages', 'release_base_ms', 'published_ms')
  if f[1] ~= 'open' and f[1] ~= 'window' then
    return false
  end
  local lead = {region = f[2], skills = f[3], owner = f[5] or '', owner_until = f[6] or '0',
    stages = f[7], base = f[8] or f[9] or '0'}
  local take = {checks = TAKE.CLAIM_FACTS, rep = rep, rep_id = rep_id, lead = lead,
    lead_id = lead_id, cid = f[4] or '', now = now, lockout_key = lockout_key}
  if may_take(take) then
    return false
  end
  take.checks, take.shift_key, take.days_key = TAKE.CLAIM_NOW, shift_key, days_key
  take.state, take.open = state, open
  return may_take(take) == nil
end

local found = {}
for i = 3, #ARGV do
  if claimable(ARGV[i], KEYS[4 + i]) then
    found[#found + 1] = ARGV[i]
  end
end
return found
