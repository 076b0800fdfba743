-- The team's audit stream (lg:{team}:audit): the one way to append to it, its field names (in
-- the order entries carry them, the CSV export's columns after `id`), the `action` values and
-- the `note` values readers count by. Mirrored by server/contracts/audit_fields.py;
-- tests/test_lua_contracts.py fails if the two drift apart or a script writes another name.
local AUDIT_FIELDS = {
  'ts', 'action', 'lead', 'rep', 'actor', 'req', 'result', 'reason', 'note', 'retry_after_ms',
  'rules_version', 'seq', 'outcome', 'policy', 'seed', 'contenders', 'digest', 'customer',
  'prev', 'force', 'deadline_ms', 'audience', 'value', 'region', 'mode', 'payload', 'rules',
  'ref', 'category', 'status', 'rating', 'tier', 'contact_at',
}

local ACTION = {
  RULES_LOADED = 'rules_loaded',
  PUBLISH = 'publish',
  ASSIGN = 'assign',            -- a duplicate (撞单) given to its customer's holder
  OFFER = 'offer',
  CLAIM = 'claim',
  SETTLE = 'settle',
  RELEASE = 'release',
  CLOSE = 'close',
  FOLLOWUP = 'followup',
  WARN = 'warn',
  RECYCLE = 'recycle',
  DISPATCH = 'dispatch',
  REASSIGN = 'reassign',
  WITHDRAW = 'withdraw',
  AUTO_ASSIGN = 'auto_assign',
  PAUSE = 'pause',
  RESUME = 'resume',
  FEEDBACK = 'feedback',                -- a rating or complaint (record_feedback.lua)
  COMPLAINT_RULING = 'complaint_ruling',  -- upheld | dismissed (rule_complaint.lua)
  APPEAL = 'appeal',                    -- the rep appeals an upheld complaint (rule_complaint.lua)
  APPEAL_RULING = 'appeal_ruling',      -- overturned | rejected (rule_complaint.lua)
  DISPUTE = 'dispute',                  -- a 撞单 dispute filed (file_dispute.lua)
  DISPUTE_RULING = 'dispute_ruling',    -- kept | reassigned (resolve_dispute.lua)
  TIER_CHANGE = 'tier_change',  -- an earned-tier move or a manager's pin (record_tier.lua)
}

-- Why a claim entry is not a plain first decision (fairness counts by these).
local NOTE = {
  SETTLED = 'settled',                      -- a window's result, decided at settlement
  WINDOW_CLOSED = 'window_closed',          -- lost: the window had closed, settlement due
  ALREADY_CANDIDATE = 'already_candidate',  -- pending: already waiting in the window
  ALREADY_HOLDER = 'already_holder',        -- won: the rep held it already
}

-- The first name in `entry` that is not an audit field, or nil (only looked for when the
-- entry holds more names than audit() wrote).
local function unknown_field(entry)
  for name in pairs(entry) do
    local known = false
    for _, field in ipairs(AUDIT_FIELDS) do
      known = known or field == name
    end
    if not known then return name end
  end
  return nil
end

-- Append one decision to the audit stream (approximately capped at maxlen) and, when a trail
-- key is given, remember the entry id on the lead's trail list. `entry` maps field names
-- (AUDIT_FIELDS) to values; nil and empty values are skipped; another name is an error.
local function audit(key, maxlen, entry, trail_key)
  local args, named = {'XADD', key, 'MAXLEN', '~', maxlen, '*'}, 0
  for _, name in ipairs(AUDIT_FIELDS) do
    local value = entry[name]
    if value ~= nil then
      named = named + 1
      if value ~= '' then
        args[#args + 1] = name
        args[#args + 1] = tostring(value)
      end
    end
  end
  for _ in pairs(entry) do
    named = named - 1
  end
  if named ~= 0 then
    error('audit: unknown field ' .. tostring(unknown_field(entry)))
  end
  local id = redis.call(unpack(args))
  if trail_key then
    redis.call('RPUSH', trail_key, id)
  end
  return id
end
