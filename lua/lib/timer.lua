-- Timers: a member of lg:{team}:timers scored by its due time (ms). Fired once: the script
-- that acts on a timer removes it in the same step.
-- Members: 'settle:<id>', 'deadline:<id>', 'warn:<id>', 'open:<id>', 'stage:<id>#<n>',
-- 'auto:<id>': the grammar of server/contracts/timer_members.py (tests/test_timer_members.py).

-- The reply for a timer that is gone ('noop') or not yet due ('early'), or nil when due.
local function not_due(timers_key, member, now)
  local due = redis.call('ZSCORE', timers_key, member)
  if not due then
    return {'noop', ''}
  end
  if now < tonumber(due) then
    return {'early', due}
  end
  return nil
end
