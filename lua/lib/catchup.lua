-- Fair catch-up ([teams.<t>.returns], README "Coming back: open leads and catch-up"): in
-- least_loaded comparisons a rep new to draws, or back from a pause longer than
-- catchup_after_ms, has their absence count as load: at their first draw back, the gap
-- between their load and the median of the contenders not catching up is credited to them
-- for catchup_for_ms. They compare like a rep loaded like the median, so they are neither
-- flooded (their own load is low after an absence) nor starved, and win draws (and carry
-- their load) at the rate of the others.

-- The lower median of the contenders' field `name`.
local function median_of(list, name)
  local values = {}
  for _, c in ipairs(list) do values[#values + 1] = c[name] end
  table.sort(values)
  return values[math.floor((#values + 1) / 2)]
end

-- When the rep came back (ms) and how long they were away (ms; -1 for a rep new to draws),
-- or nil when they are not catching up. Marks the rep's first draw ('first_seen_ms' in the
-- rep hash): a rep new to draws counts as coming back then.
local function came_back(rep_key, returns, now)
  redis.call('HSETNX', rep_key, 'first_seen_ms', now)
  local f = redis.call('HMGET', rep_key, 'paused', 'paused_changed_ms', 'away_from_ms',
    'first_seen_ms')
  local back, away = tonumber(f[4]), -1
  if f[1] == '0' and f[3] and tonumber(f[2]) > back then
    back, away = tonumber(f[2]), tonumber(f[2]) - tonumber(f[3])
  end
  if now - back >= returns.catchup_for_ms or (away >= 0 and away <= returns.catchup_after_ms) then
    return nil
  end
  return back, away
end

-- The load the rep's absence is credited with until catchup_for_ms after coming back: at
-- the first draw back, how far below the median of the contenders not catching up each
-- field of `by` was (kept in the rep hash, so every later draw of the span uses the same).
local function credit(c, by, settled)
  local found = redis.call('HMGET', c.rep_key, 'catchup_back_ms', 'catchup_credit')
  local base
  if tonumber(found[1]) == c.catchup.back_ms and found[2] then
    base = cjson.decode(found[2])
  else
    base = {}
    for _, name in ipairs(by) do
      base[name] = #settled > 0 and math.max(median_of(settled, name) - c[name], 0) or 0
    end
    redis.call('HSET', c.rep_key, 'catchup_back_ms', c.catchup.back_ms,
      'catchup_credit', cjson.encode(base))
  end
  local out = {}
  for _, name in ipairs(by) do
    out[name] = base[name] or 0
  end
  return out
end

-- For each contender catching up: c.counted, the load least_loaded compares (each field of
-- `by` plus its fading credit), and c.catchup, the audit's note of it ({back_ms, away_ms,
-- and each field as counted}). Contenders carry rep_key. `team` is the team JSON of the
-- rules hash; nothing changes (and nothing is written) while catch-up is off.
local function calibrate(contenders, by, team, now)
  local returns = team.returns
  if not returns or (returns.catchup_after_ms or 0) <= 0 then
    return
  end
  local returning, settled = {}, {}
  for _, c in ipairs(contenders) do
    local back, away = came_back(c.rep_key, returns, now)
    if back then
      c.catchup = {back_ms = back, away_ms = away}
      returning[#returning + 1] = c
    else
      settled[#settled + 1] = c
    end
  end
  for _, c in ipairs(returning) do
    local extra = credit(c, by, settled)
    c.counted = {}
    for _, name in ipairs(by) do
      c.counted[name] = c[name] + extra[name]
      c.catchup[name] = c.counted[name]
    end
  end
end
