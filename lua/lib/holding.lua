-- How a hold starts (claim, settlement, dispatch, assignment) and ends (release, close,
-- recycle, reassign, withdraw): the held set, daily count, cooldown, follow-up deadline
-- timers and customer ownership move together.
-- @include "lib/eligibility.lua"

-- Remove a lead's deadline and warning timers.
local function clear_deadline(lead_key, timers_key, lead_id)
  redis.call('ZREM', timers_key, 'deadline:' .. lead_id, 'warn:' .. lead_id)
  redis.call('HDEL', lead_key, 'deadline_ms', 'deadline_kind')
end

-- Start the follow-up deadline (or, after a follow-up or without an SLA, the max-hold one).
local function set_deadline(lead_key, timers_key, lead_id, rep, now, after_followup)
  clear_deadline(lead_key, timers_key, lead_id)
  local span, kind = rep.followup_sla_ms or 0, 'followup'
  if after_followup or span == 0 then
    span, kind = rep.max_hold_ms or 0, 'max_hold'
  end
  if span == 0 then
    return
  end
  local deadline = now + span
  redis.call('HSET', lead_key, 'deadline_ms', deadline, 'deadline_kind', kind)
  redis.call('ZADD', timers_key, deadline, 'deadline:' .. lead_id)
  local warn = rep.warn_before_ms or 0
  if warn > 0 and warn < span then
    redis.call('ZADD', timers_key, deadline - warn, 'warn:' .. lead_id)
  end
end

-- A customer's record lives while one of its leads is held, then until a day past the end of
-- its owner's protection (it only matters until then), so it cannot grow for ever.
local function keep_customer(cust_key, now)
  local cust = redis.call('HMGET', cust_key, 'held_count', 'owner_until_ms')
  if tonumber(cust[1] or '0') > 0 then
    redis.call('PERSIST', cust_key)
  else
    local until_ms = math.max(tonumber(cust[2] or '0'), now)
    redis.call('PEXPIRE', cust_key, until_ms - now + 86400000)
  end
end

-- h: pool_key (the team's open-lead index), rep_id, rep (rules), lead_id, lead_key, rep_key, held_key, days_key, timers_key,
--    cust_key, cid, team (settings), now, counts (toward max_daily), cooldown (after-claim)
local function start_hold(h)
  redis.call('HSET', h.lead_key, 'state', 'held', 'holder', h.rep_id, 'claimed_ms', h.now)
  redis.call('ZREM', h.pool_key, h.lead_id)
  redis.call('SADD', h.held_key, h.lead_id)
  local fields = {}
  if h.counts then
    local state = redis.call('HMGET', h.rep_key, 'cooldown_until_ms', 'day', 'day_count')
    local day = today(h.days_key, h.now)
    fields = {'day', day, 'day_count', daily_count(state, day) + 1}
  end
  if h.cooldown then
    fields[#fields + 1] = 'cooldown_until_ms'
    fields[#fields + 1] = h.now + h.rep.cooldown_after_claim_ms
  end
  if #fields > 0 then
    redis.call('HSET', h.rep_key, unpack(fields))
  end
  set_deadline(h.lead_key, h.timers_key, h.lead_id, h.rep, h.now, false)
  if h.cid ~= '' then
    local cust = redis.call('HMGET', h.cust_key, 'holder', 'held_count')
    local count = 1
    if cust[1] == h.rep_id then
      count = tonumber(cust[2] or '0') + 1
    end
    redis.call('HSET', h.cust_key, 'owner', h.rep_id,
      'owner_until_ms', h.now + (h.team.protection_period_ms or 0),
      'holder', h.rep_id, 'held_count', count)
    redis.call('PERSIST', h.cust_key)
  end
end

-- The rep stops holding the lead (the caller sets the lead's new state and holder; a caller
-- that changes the customer's ownership afterwards calls keep_customer again).
-- `keep_owner` keeps customer ownership (a close); otherwise the rep loses it.
local function end_hold(rep_id, lead_id, lead_key, held_key, timers_key, cust_key, cid, keep_owner,
                        now)
  redis.call('SREM', held_key, lead_id)
  clear_deadline(lead_key, timers_key, lead_id)
  if cid == '' then
    return
  end
  local cust = redis.call('HMGET', cust_key, 'holder', 'held_count', 'owner')
  if cust[1] == rep_id then
    local count = tonumber(cust[2] or '1') - 1
    if count <= 0 then
      redis.call('HSET', cust_key, 'holder', '', 'held_count', 0)
    else
      redis.call('HSET', cust_key, 'held_count', count)
    end
  end
  if not keep_owner and cust[3] == rep_id then
    redis.call('HSET', cust_key, 'owner', '', 'owner_until_ms', 0)
  end
  keep_customer(cust_key, now)
end

-- Keep a former holder off this lead and this customer's leads until `until_ms`. The hash
-- lives a day past its latest lockout (it only matters until then), so it cannot grow for ever.
local function lock_out(lockout_key, lead_id, cid, until_ms, now)
  redis.call('HSET', lockout_key, 'lead:' .. lead_id, until_ms)
  if cid ~= '' then
    redis.call('HSET', lockout_key, 'cust:' .. cid, until_ms)
  end
  local last = until_ms
  for _, value in ipairs(redis.call('HVALS', lockout_key)) do
    last = math.max(last, tonumber(value) or 0)
  end
  redis.call('PEXPIRE', lockout_key, last - now + 86400000)
end

-- Close an open claim window without a draw (the lead was dispatched or withdrawn): each
-- waiting candidate gets a final result (`winner` gets 'won', the others `result`/`reason`).
-- Returns the results by rep for a type=settled event, or nil when nobody was waiting.
local function end_window(cand_key, timers_key, lead_id, winner, result, reason)
  redis.call('ZREM', timers_key, 'settle:' .. lead_id)
  local flat = redis.call('HGETALL', cand_key)
  local results, any = {}, false
  for i = 1, #flat, 2 do
    local entry = cjson.decode(flat[i + 1])
    if not entry.result then
      entry.result, entry.reason = result, reason
      if flat[i] == winner then
        entry.result, entry.reason = 'won', ''
      end
      redis.call('HSET', cand_key, flat[i], cjson.encode(entry))
      results[flat[i]] = {req = entry.req, result = entry.result, reason = entry.reason}
      any = true
    end
  end
  if any then
    return results
  end
  return nil
end
