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
  -- a complaint category the team does not configure
  UNKNOWN_CATEGORY = 'unknown_category',
  -- a rating outside 1..5
  BAD_RATING = 'bad_rating',
  -- a ruling on a complaint already ruled
  ALREADY_RULED = 'already_ruled',
  -- a ruling or appeal on a rating
  NOT_COMPLAINT = 'not_complaint',
  -- an appeal of a complaint that is not upheld
  NOT_UPHELD = 'not_upheld',
  -- an appeal after the appeal window
  APPEAL_EXPIRED = 'appeal_expired',
  -- a second appeal
  ALREADY_APPEALED = 'already_appealed',
  -- an appeal ruling with no appeal pending
  NOT_APPEALED = 'not_appealed',
  -- a rep acting on another rep's complaint
  NOT_YOURS = 'not_yours',
  -- a dispute on a lead nobody holds
  NOT_HELD = 'not_held',
  -- a ruling on a dispute already resolved
  ALREADY_RESOLVED = 'already_resolved',
}
