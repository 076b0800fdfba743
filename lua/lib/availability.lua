-- May this rep take this lead now: one predicate for claim, settlement, dispatch and
-- auto-assignment (lib/eligibility.lua's rules plus lockouts, pauses, shifts and release).
-- @include "lib/eligibility.lua"

-- Until when the rep is locked out of this lead or customer (0 when not).
local function locked_until(lockout_key, lead_id, cid)
  local found = redis.call('HMGET', lockout_key, 'lead:' .. lead_id, 'cust:' .. cid)
  return math.max(tonumber(found[1] or '0'), tonumber(found[2] or '0'))
end

-- When the rep's release stage opens (ms), or nil when no stage includes the rep's tier.
local function stage_opens(stages_json, base_ms, tier)
  if not stages_json or stages_json == '' then
    return base_ms
  end
  for _, stage in ipairs(cjson.decode(stages_json)) do
    if contains(stage.tiers, tier) or contains(stage.tiers, '*') then
      return base_ms + stage.after_ms
    end
  end
  return nil
end

-- Whether the rep works now; if not, ms until their next shift (0 if none is known).
local function off_shift(shift_key, rep, now)
  if not rep.has_shifts then
    return false, 0
  end
  local cur = redis.call('ZREVRANGEBYSCORE', shift_key, now, '-inf', 'LIMIT', 0, 1)
  if cur[1] then
    local _, _, finish = string.find(cur[1], ':(%d+)$')
    if now < tonumber(finish) then
      return false, 0
    end
  end
  local nxt = redis.call('ZRANGEBYSCORE', shift_key, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if nxt[1] then
    return true, tonumber(nxt[2]) - now
  end
  return true, 0
end

-- ms until the rep is on duty again (0 when not known) while paused or off shift, else nil.
local function off_duty(rep, paused, shift_key, now)
  if paused == '1' then
    return 0
  end
  local off, wait = off_shift(shift_key, rep, now)
  if off then
    return wait
  end
  return nil
end

-- ms until the lead is released to this rep (their release stage, or the end of another rep's
-- owner window), else nil. `lead`: stages, base (release base ms), owner, owner_until.
local function not_released(rep, rep_id, lead, now)
  if lead.owner == rep_id and now < tonumber(lead.owner_until) then
    return nil  -- the owner's own window: release stages only count from its end
  end
  local opens = stage_opens(lead.stages, tonumber(lead.base), rep.tier)
  if opens and now < opens then
    return opens - now
  end
  if lead.owner ~= '' and lead.owner ~= rep_id and now < tonumber(lead.owner_until) then
    return tonumber(lead.owner_until) - now
  end
  return nil
end

-- Which checks apply to each way of taking a lead (eligibility always does).
local TAKE = {
  -- a rep's claim, in two steps around the lead's own state (held: lost; window: pending):
  -- first what decides whether the lead could ever be theirs (a lead's release stages
  -- exclude the tiers none names), then their availability and limits now
  CLAIM_FACTS = {tiers = true, lockout = true},
  CLAIM_NOW = {on_duty = true, released = true, cooldown = true, quotas = true},
  -- a window's settlement: the rest was checked when each candidate claimed
  SETTLE = {cooldown = true, quotas = true},
  -- a manager's dispatch and an auto-assignment: no release stages, no cooldown
  ASSIGN = {lockout = true, on_duty = true, quotas = true},
}

-- May this rep take this lead now? The first check that fails, in this order, with
-- retry_after_ms (0 when waiting would not help), or nil, 0:
--   ineligible   no rules, inactive, region, skills; with `tiers`, no release stage has the tier
--   locked_out   a former holder kept off the lead or its customer (`lockout`)
--   not_open     paused or off shift (`on_duty`); before the rep's release stage or inside
--                another rep's owner window (`released`)
--   cooldown     (`cooldown`)
--   quota_open, quota_daily (`quotas`)
-- t: checks (a TAKE entry), rep (rules, or nil when unknown), rep_id, lead_id, cid, now,
--    lead {region, skills; stages, base, owner, owner_until for `tiers` and `released`};
--    lockout_key for `lockout`; state (HMGET rep_key cooldown_until_ms, day, day_count,
--    paused) and shift_key for `on_duty`; state, open (SCARD held_key) and days_key for
--    `cooldown` and `quotas`
local function may_take(t)
  local rep, lead, checks, now = t.rep, t.lead, t.checks, t.now
  if not rep or not eligible(rep, lead.region, lead.skills)
      or (checks.tiers and not stage_opens(lead.stages, 0, rep.tier)) then
    return R.INELIGIBLE, 0
  end
  if checks.lockout then
    local locked = locked_until(t.lockout_key, t.lead_id, t.cid)
    if locked > now then
      return R.LOCKED_OUT, locked - now
    end
  end
  local wait = checks.on_duty and off_duty(rep, t.state[4], t.shift_key, now)
  if not wait and checks.released then
    wait = not_released(rep, t.rep_id, lead, now)
  end
  if wait then
    return R.NOT_OPEN, wait
  end
  if checks.cooldown or checks.quotas then
    return rep_limit(rep, t.state, t.open, t.days_key, now, checks.cooldown)
  end
  return nil, 0
end
