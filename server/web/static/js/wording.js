// Plain words for every claim outcome and rejection reason (server/contracts/reasons.py).

export function duration(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min ${s % 60} s`;
}

export function clock(ms, timeZone) {
  const opts = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  if (timeZone) opts.timeZone = timeZone;
  try {
    return new Intl.DateTimeFormat("en-GB", opts).format(new Date(ms));
  } catch {
    return new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit" }).format(new Date(ms));
  }
}

// Text for a rejection: `left` is ms until retry (null when none), `me` the rep's status.
export function rejection(reason, left, me) {
  const wait = left === null ? "" : duration(left);
  switch (reason) {
    case "cooldown":
      return left > 0 ? `cooling down — you can claim again in ${wait}` : "cooldown over — you can claim again now";
    case "quota_daily":
      return `daily quota ${me.today}/${me.maxDaily} reached — resets at 00:00 ${me.timezone}` +
        (left === null ? "" : left > 0 ? ` (in ${wait})` : " (reset now)");
    case "quota_open":
      return `you hold ${me.open}/${me.maxOpen} open leads — close or release one first`;
    case "not_open":
      if (left === null) return "not open to you now — you are paused or off shift";
      return left > 0 ? `not open to you yet — it opens for you in ${wait}` : "it is open to you now — claim again";
    case "locked_out":
      return left > 0 ? `locked out — you released or lost this customer recently; you can claim again in ${wait}`
        : "lockout over — you can claim again now";
    case "rate_limited":
      return left > 0 ? `too many claims this second — retry in ${wait}` : "you can claim again now";
    case "ineligible":
      return "not eligible — your region, skills or tier do not fit this lead";
    case "not_found":
      return "no such lead on your team";
    case "closed":
      return "closed — the lead was closed or withdrawn";
    default:
      return `refused (${reason})`;
  }
}

export const WON = "won — it's yours: it is in My leads";
export const LOST = "lost — another rep was faster";
export const TAKEN = "taken by another rep — leaving the list";

export function pending(left) {
  return left > 0 ? `in the lottery — the window closes in ${duration(left)}, then the final result`
    : "window closed — waiting for the final result";
}

export const REVOKED = {
  followup: "recycled — no follow-up before the deadline",
  max_hold: "recycled — held too long without a follow-up",
  reassigned: "reassigned by a manager to another rep",
  withdrawn: "withdrawn by a manager",
};

export const ACTION_REASON = {
  not_found: "no such lead", closed: "the lead is already closed", not_holder: "you do not hold this lead",
};

export function penalty(me, app) {
  const left = me && me.cooldownUntil ? me.cooldownUntil - Date.now() : 0;
  if (left <= 0) return "penalty: none";
  return `penalty: no claims for ${duration(left)} (until ${clock(me.cooldownUntil)})`;
}
