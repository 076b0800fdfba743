// The decision feed in plain words. Claim attempts on one lead are folded into one line:
// "14:03:12 chen won L-1001 (3 others lost, 1 cooling down)".

import { FEED_MAX } from "./model.js";

const REJECTED = {
  cooldown: "cooling down", quota_open: "at max open", quota_daily: "at daily max",
  ineligible: "not eligible", not_open: "not released to them", closed: "too late (closed)",
  locked_out: "locked out", not_found: "unknown lead", rate_limited: "throttled",
};

export function clock(ms) {
  const d = new Date(Number(ms));
  return d.toLocaleTimeString("en-GB", { hour12: false });
}

// A fold of claim attempts on one lead.
class Contest {
  constructor(lead, ts) {
    this.lead = lead;
    this.ts = ts;
    this.winner = null;
    this.lost = 0;
    this.rejected = new Map();
  }

  add(entry) {
    if (entry.result === "won") {
      this.winner = entry.rep;
      this.ts = entry.ts;
    } else if (entry.result === "lost") this.lost += 1;
    else if (entry.result === "rejected") {
      const why = REJECTED[entry.reason] || entry.reason || "rejected";
      this.rejected.set(why, (this.rejected.get(why) || 0) + 1);
    }
  }

  text() {
    const others = [];
    if (this.lost) others.push(this.winner ? `${this.lost} ${this.lost === 1 ? "other" : "others"} lost` : `${this.lost} lost`);
    for (const [why, n] of this.rejected) others.push(`${n} ${why}`);
    if (this.winner) {
      const tail = others.length ? ` (${others.join(", ")})` : "";
      return `${clock(this.ts)} ${this.winner} won ${this.lead}${tail}`;
    }
    return `${clock(this.ts)} ${this.lead}: ${others.join(", ") || "claimed"}`;
  }
}

// One line per entry (claims folded); `team` gives the rules for offered-to counts.
export class Feed {
  constructor() {
    this.lines = []; // {key, kind, text}, newest first
    this.contests = new Map();
  }

  add(entry, team) {
    if (entry.action === "claim") return this.claim(entry);
    const text = describe(entry, team);
    if (text) this.push({ key: entry.id, kind: entry.action, text: `${clock(entry.ts)} ${text}` });
    if (["release", "recycle", "withdraw", "close", "publish"].includes(entry.action)) {
      this.contests.delete(entry.lead);
    }
  }

  claim(entry) {
    let contest = this.contests.get(entry.lead);
    if (!contest || (contest.winner && entry.result === "won")) {
      contest = new Contest(entry.lead, entry.ts);
      this.contests.set(entry.lead, contest);
      this.push({ key: `claim:${entry.id}`, kind: "claim", contest, text: "" });
    }
    contest.add(entry);
    const line = this.lines.find((l) => l.contest === contest);
    if (line) {
      line.text = contest.text();
      line.changed = true;
    }
  }

  push(line) {
    line.changed = true;
    this.lines.unshift(line);
    while (this.lines.length > FEED_MAX) {
      const gone = this.lines.pop();
      if (gone.contest) this.contests.delete(gone.contest.lead);
    }
  }
}

// `audience`: the typed audit entry's object ({reps} or {tiers}), or absent: everyone.
function offeredTo(audience, team) {
  const parsed = audience || {};
  const rules = Object.entries(team ? team.rules : {});
  if (Array.isArray(parsed.reps)) return ` to ${parsed.reps.length} rep(s)`;
  if (Array.isArray(parsed.tiers)) {
    const all = parsed.tiers.includes("*");
    const n = rules.filter(([, r]) => r.active && (all || parsed.tiers.includes(r.tier))).length;
    return ` to ${n} rep(s) (tiers ${parsed.tiers.join(", ")})`;
  }
  return ` to ${rules.filter(([, r]) => r.active).length} rep(s)`;
}

function covering(region, team) {
  const rules = Object.values(team ? team.rules : {});
  return rules.filter((r) => r.active && (!region || r.regions.split(",").some((x) => x === "*" || x === region))).length;
}

function because(entry) {
  return entry.reason ? ` — ${entry.reason}` : "";
}

export function describe(e, team) {
  switch (e.action) {
    case "publish": return `${e.lead} published${e.value ? ` (¥${e.value})` : ""}${e.mode === "window" ? ", lottery window" : ""}, ${covering(e.region, team)} rep(s) cover its region`;
    case "offer": return `${e.lead} offered${offeredTo(e.audience, team)}`;
    case "settle": return e.result === "won" ? `${e.lead} window settled: ${e.rep} won (${e.policy || "policy"})` : `${e.lead} window settled: no winner`;
    case "dispatch": return `${e.actor} dispatched ${e.lead} to ${e.rep}${because(e)}`;
    case "reassign": return `${e.actor} reassigned ${e.lead} from ${e.prev || "?"} to ${e.rep}${because(e)}`;
    case "withdraw": return `${e.actor} withdrew ${e.lead}${e.rep ? ` (held by ${e.rep})` : ""}${because(e)}`;
    case "warn": return `${e.rep}'s ${e.reason === "max_hold" ? "hold" : "follow-up"} deadline on ${e.lead} is near`;
    case "recycle": return `${e.lead} recycled from ${e.rep} (missed ${e.reason === "max_hold" ? "max hold" : "follow-up"}); ${e.rep} gets the penalty cooldown`;
    case "release": return `${e.rep} released ${e.lead}`;
    case "close": return `${e.rep} closed ${e.lead} as ${e.outcome}`;
    case "followup": return `${e.rep} followed up ${e.lead}`;
    case "pause": return `${e.rep} paused (by ${e.actor})`;
    case "resume": return `${e.rep} resumed (by ${e.actor})`;
    case "rules_loaded": return `rules version ${e.rules_version} loaded`;
    case "auto_assign": return e.result === "ok" ? `${e.lead} auto-assigned to ${e.rep} (${e.policy})` : `${e.lead}: nobody to auto-assign`;
    case "assign": return `${e.lead} assigned to ${e.rep} (${e.reason || "owner"})`;
    case "connected": return `${e.rep} connected`;
    case "disconnected": return `${e.rep} disconnected`;
    case "shift": return `${e.rep}'s shift ${e.on_shift ? "began" : "ended"}`;
    default: return `${e.action || "event"} ${e.lead || ""} ${e.rep || ""}`.trim();
  }
}
