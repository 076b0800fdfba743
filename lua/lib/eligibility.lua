-- Eligibility and the rep's own limits: the parts of lib/availability.lua's predicate that
-- need no key of their own, and the calendar day that quotas count by.
-- `rep` is a rep's rules JSON (decoded) from lg:{team}:rules.
-- @include "lib/reasons.lua"

-- The rejection for a lead that is unknown or already finished, or nil while it is live.
local function finished(state)
  if not state then
    return R.NOT_FOUND
  end
  if state == 'closed' or state == 'withdrawn' then
    return R.CLOSED
  end
  return nil
end

-- Whether the lead still has the holder and customer the caller read (else: 'stale').
local function as_read(holder, cid, expected_holder, expected_cid)
  return (holder or '') == expected_holder and (cid or '') == expected_cid
end

local function contains(list, item)
  for _, value in ipairs(list) do
    if value == item then return true end
  end
  return false
end

-- Whether the rep may ever claim a lead of this region and required skills (JSON array).
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
local function today(days_key, now)
  local cur = redis.call('ZREVRANGEBYSCORE', days_key, now, '-inf', 'LIMIT', 0, 1)
  local nxt = redis.call('ZRANGEBYSCORE', days_key, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if cur[1] and nxt[1] then
    return cur[1], tonumber(nxt[2])
  end
  local utc_day = math.floor(now / 86400000)
  return 'utc-' .. utc_day, (utc_day + 1) * 86400000
end

-- Wins so far on `day`, from HMGET rep_key cooldown_until_ms, day, day_count.
local function daily_count(state, day)
  if state[2] == day then
    return tonumber(state[3])
  end
  return 0
end

-- The first of the rep's own limits that blocks a win now, with retry_after_ms, or nil, 0.
-- `state` is HMGET rep_key cooldown_until_ms, day, day_count; `open` is SCARD of held;
-- the cooldown counts only `with_cooldown` (an assignment starts and obeys none).
local function rep_limit(rep, state, open, days_key, now, with_cooldown)
  local cooldown_until = tonumber(state[1] or '0')
  if with_cooldown and now < cooldown_until then
    return R.COOLDOWN, cooldown_until - now
  end
  if open >= rep.max_open then
    return R.QUOTA_OPEN, 0
  end
  local day, next_day_ms = today(days_key, now)
  if daily_count(state, day) >= rep.max_daily then
    return R.QUOTA_DAILY, next_day_ms - now
  end
  return nil, 0
end
