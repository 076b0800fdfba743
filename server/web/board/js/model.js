// The board's model of one team's floor: reps, live leads, rules, fairness, and the feed's
// cursor. Every change comes from the server (snapshot, then events carrying fresh state).

export const FEED_MAX = 300; // decisions kept: the page's memory stays bounded all day

export function compareId(a, b) {
  const [am, an] = String(a).split("-").map(Number);
  const [bm, bn] = String(b).split("-").map(Number);
  return am - bm || an - bn;
}

export class Team {
  constructor(name) {
    this.name = name;
    this.reps = new Map();
    this.leads = new Map();
    this.rules = {};
    this.previousRules = null;
    this.rulesVersion = 0;
    this.changedRules = new Set(); // "rep|rule" changed by the last reload seen live
    this.fairness = {};
    this.cursor = null;
    this.dirty = new Set(["reps", "leads", "rules", "fairness", "feed"]);
    this.repRows = null; // rep ids to repaint, or null: every row
  }

  // Reps whose row must be repainted: named by a message, or counting something down.
  touch(ids) {
    if (this.repRows) for (const id of ids) this.repRows.add(id);
    this.dirty.add("reps");
  }

  ticking(now) {
    return [...this.reps.values()].filter((r) => r.held.length || r.cooldown_until_ms > now - 1000).map((r) => r.id);
  }

  snapshot(snap) {
    this.reps = new Map(Object.entries(snap.reps));
    this.leads = new Map(Object.entries(snap.leads));
    this.rules = snap.rules;
    this.rulesVersion = snap.rules_version;
    this.fairness = snap.fairness;
    this.cursor = { ...snap.cursor };
    this.markAll();
  }

  markAll() {
    this.repRows = null;
    for (const part of ["reps", "leads", "rules", "fairness", "feed"]) this.dirty.add(part);
  }

  // A batch of the feed: entries in order, then the current state of what they name.
  events(message) {
    for (const [id, lead] of Object.entries(message.leads || {})) {
      if (lead) this.leads.set(id, lead);
      else this.leads.delete(id);
    }
    for (const [id, rep] of Object.entries(message.reps || {})) this.reps.set(id, rep);
    this.touch(Object.keys(message.reps || {}));
    if (message.rules) {
      this.reload(message.rules, message.rules_version);
      this.repRows = null;
    }
    const last = (rows) => (rows && rows.length ? rows[rows.length - 1].id : null);
    if (last(message.entries)) this.cursor.audit = last(message.entries);
    if (last(message.presence)) this.cursor.presence = last(message.presence);
    this.dirty.add("leads");
  }

  reload(rules, version) {
    if (version === this.rulesVersion) return;
    this.previousRules = this.rules;
    this.changedRules = diffRules(this.rules, rules);
    this.rules = rules;
    this.rulesVersion = version;
    this.dirty.add("rules");
  }

  shift(message) {
    const rep = this.reps.get(message.rep);
    if (rep) rep.on_shift = message.on_shift;
    this.touch([message.rep]);
  }
}

export function diffRules(before, after) {
  const changed = new Set();
  for (const [rep, rules] of Object.entries(after)) {
    const old = before[rep];
    for (const [name, value] of Object.entries(rules)) {
      if (!old || JSON.stringify(old[name]) !== JSON.stringify(value)) changed.add(`${rep}|${name}`);
    }
  }
  return changed;
}

// What a rep row says of presence, pause and working hours.
export function repStatus(rep) {
  if (rep.paused) return "paused";
  if (!rep.on_shift) return "off shift";
  return rep.online ? "online" : "offline";
}
