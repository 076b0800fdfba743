-- The draw policies of settle_window.lua and auto_assign.lua. A draw is reproducible: its
-- point u comes from a seed written to the audit entry, over contenders sorted by rep id.

-- The seed (sha1 of the lead id and the Redis time in µs, or `override` when not '': a
-- replay passes the recorded one) and its point u in [0, 1): the first 8 hex digits / 2^32.
local function draw_seed(lead_id, override)
  local seed = override
  if (seed or '') == '' then
    local t = redis.call('TIME')
    seed = redis.sha1hex(lead_id .. ':' .. t[1] .. t[2])
  end
  return seed, tonumber(string.sub(seed, 1, 8), 16) / 4294967296
end

-- One of the list, uniformly by u.
local function uniform(list, u)
  return list[math.floor(u * #list) + 1]
end

-- Whether a is less loaded (-1), as loaded (0) or more loaded (1) than b, comparing the
-- fields named in `by` in turn (e.g. {'open', 'today'}); a contender catching up
-- (lib/catchup.lua) by its `counted` load.
local function load_order(a, b, by)
  local la, lb = a.counted or a, b.counted or b
  for _, name in ipairs(by) do
    if la[name] < lb[name] then return -1 end
    if la[name] > lb[name] then return 1 end
  end
  return 0
end

-- The least loaded of the list by the fields `by`; ties broken by a uniform draw.
local function least_loaded(list, u, by)
  local best = {}
  for _, c in ipairs(list) do
    local order = best[1] and load_order(c, best[1], by) or -1
    if order < 0 then
      best = {c}
    elseif order == 0 then
      best[#best + 1] = c
    end
  end
  return uniform(best, u)
end

-- A draw proportional to each one's `weight`.
local function weighted(list, u)
  local total = 0
  for _, c in ipairs(list) do total = total + c.weight end
  local point, acc = u * total, 0
  for _, c in ipairs(list) do
    acc = acc + c.weight
    if point < acc then return c end
  end
  return list[#list]
end

-- The first of the list (sorted by id) after `last`, wrapping round to the first.
local function next_after(list, last)
  for _, c in ipairs(list) do
    if c.id > last then return c end
  end
  return list[1]
end

-- How a lead's `weighted` draw takes its weights (team settings, then the band of its value,
-- as TeamConfig.arbitration picks it): {from = 'rule'|'score', floor, cap (nil: none)}.
-- Unset settings arrive as cjson.null, hence the type checks.
local function weight_source(team, value)
  local band = nil
  for _, b in ipairs(team.bands or {}) do
    if b.min_value <= value and (band == nil or b.min_value > band.min_value) then band = b end
  end
  local how = {from = 'rule', floor = 1}
  for _, layer in ipairs({team, band or {}}) do
    if type(layer.weight_from) == 'string' then how.from = layer.weight_from end
    if type(layer.weight_floor) == 'number' then how.floor = layer.weight_floor end
    if type(layer.weight_cap) == 'number' then how.cap = layer.weight_cap end
  end
  return how
end

-- A contender's weight: its `weight` rule, or (weight_from = 'score') its score as the
-- scorecard last wrote it on the rep's state hash, held within [floor, cap]: nobody starved
-- (no score yet counts as the floor), nobody monopolises.
local function draw_weight(how, rep, rep_key)
  if how.from ~= 'score' then return rep.weight or 1 end
  local weight = math.max(tonumber(redis.call('HGET', rep_key, 'score') or '') or how.floor,
    how.floor)
  return how.cap and math.min(weight, how.cap) or weight
end
