-- The team's events stream (lg:{team}:events): the one way to append to it, and the entry
-- types, defined once here. Mirrored by server/contracts/events.py (EventType);
-- tests/test_lua_contracts.py fails if the two drift apart or a script bypasses emit().
local EVENT = {
  LEAD = 'lead',            -- an offer (payload, audience); reoffer='1' when offered again
  TAKEN = 'taken',          -- an fcfs claim or a window was won: everyone drops the lead
  ASSIGNED = 'assigned',    -- given to a rep (dispatch, reassign, auto-assign, duplicate)
  REVOKED = 'revoked',      -- the holder lost it (missed deadline)
  WARN = 'warn',            -- the holder's deadline is near
  WITHDRAWN = 'withdrawn',  -- a manager withdrew it
  PAUSE = 'pause',          -- a rep was paused or resumed
  SETTLED = 'settled',      -- a claim window's results per candidate
  COMPLAINT = 'complaint',  -- a due-process step of a complaint, for the rep concerned
  DISPUTE = 'dispute',      -- a 撞单 dispute filed or resolved, for both reps
  TIER = 'tier',            -- a rep's tier changed (promoted, demoted, pinned, unpinned)
}

-- Append an entry of type `kind` (an EVENT value), approximately capped at `maxlen`;
-- `fields` is a flat array of name, value pairs written as given. Returns the entry id.
local function emit(key, maxlen, kind, fields)
  local known = false
  for _, value in pairs(EVENT) do
    known = known or value == kind
  end
  if not known then
    error('emit: unknown event type ' .. tostring(kind))
  end
  local args = {'XADD', key, 'MAXLEN', '~', maxlen, '*', 'type', kind}
  for i = 1, #fields do
    args[#args + 1] = fields[i]
  end
  return redis.call(unpack(args))
end
