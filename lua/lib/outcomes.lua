-- Complaints and disputes (issue 13): who held a lead when, and the keys a feedback or a
-- dispute is listed under (its lead's and its rep's outcome indexes).

-- Whether an audit entry (flat field list) gave its lead to `rep`: a won claim, a dispatch,
-- reassignment, auto-assignment, duplicate assignment, or a dispute reassigned to the rep.
local GAINS = {claim = 'won', dispatch = 'ok', reassign = 'ok', auto_assign = 'ok',
  assign = 'ok', dispute_ruling = 'reassigned'}

local function gained(fields)
  local f = {}
  for i = 1, #fields, 2 do
    f[fields[i]] = fields[i + 1]
  end
  local want = GAINS[f.action or '']
  if want and f.rep and f.rep ~= '' and (f.result == want or f.status == want) then
    return f.rep, tonumber(f.ts or '0')
  end
  return nil, nil
end

-- The rep who held a lead at `at_ms` (the last to take it at or before then), else the last
-- rep who took it, read from the lead's audit trail; `fallback` (the lead's holder field)
-- when the trail's entries were trimmed from the stream.
local function holder_at(trail_key, audit_key, at_ms, fallback)
  local at, last = nil, nil
  for _, id in ipairs(redis.call('LRANGE', trail_key, 0, -1)) do
    local found = redis.call('XRANGE', audit_key, id, id)
    if found[1] then
      local rep, ts = gained(found[1][2])
      if rep then
        last = rep
        if at_ms and ts <= at_ms then at = rep end
      end
    end
  end
  return at or last or fallback or ''
end
