-- Reason codes shared by every script. Mirrored by server/reasons.py (Reason);
-- tests/test_reasons.py fails if the two sets differ.
local R = {
  INELIGIBLE = 'ineligible',
  QUOTA_OPEN = 'quota_open',
  QUOTA_DAILY = 'quota_daily',
  COOLDOWN = 'cooldown',
  NOT_FOUND = 'not_found',
  NOT_OPEN = 'not_open',
  CLOSED = 'closed',
  LOCKED_OUT = 'locked_out',
  NOT_HOLDER = 'not_holder',
  RATE_LIMITED = 'rate_limited',
  REASON_REQUIRED = 'reason_required',
  ALREADY_HOLDER = 'already_holder',
}
