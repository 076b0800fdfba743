// The manager board: signs in with the token from the URL fragment, follows the manager feed
// (/api/board/feed: a snapshot, then batches of decisions with fresh state), paints on the
// next animation frame, and acts through the manager API.

import { $ } from "/static/js/dom.js";
import { Api, Audit, ask, failure } from "./actions.js";
import { Team } from "./model.js";
import { paintFairness, paintFeed, paintLeads, paintReps, paintRules } from "./render.js";
import { Feed } from "./words.js";

const TOKEN_KEY = "leadgrab.board.token";
const NO_RECONNECT = new Set([1000, 1002, 1003, 1007, 1008, 1009, 1010, 4001, 4002]);
const LAG_MAX = 20_000;

class Board {
  constructor(token) {
    this.token = token;
    this.api = new Api(token);
    this.teams = new Map();
    this.current = null;
    this.skewMs = 0;
    this.attempt = 0;
    this.painting = false;
    this.lags = []; // ms from an entry's audit time to its paint (benchmark; capped)
    this.pendingLag = [];
    this.act = {
      dispatch: (lead) => this.dispatch(lead), reassign: (lead) => this.reassign(lead),
      withdraw: (lead) => this.withdraw(lead), pause: (rep, on) => this.pause(rep, on),
    };
    window.board = this;
  }

  start() {
    $("board").hidden = false;
    $("team").addEventListener("change", () => this.show($("team").value));
    $("fair-window").addEventListener("change", () => this.mark("fairness"));
    $("reload").addEventListener("click", () => this.reload());
    this.audit = new Audit(this.api, () => this.current);
    setInterval(() => this.tick(), 1000); // countdowns only: no network
    this.connect();
  }

  now() {
    return Date.now() + this.skewMs;
  }

  connect() {
    $("link-state").textContent = this.attempt ? "reconnecting…" : "connecting…";
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/api/board/feed`);
    ws.onopen = () => {
      const resume = {};
      for (const [name, team] of this.teams) if (team.cursor) resume[name] = team.cursor;
      ws.send(JSON.stringify({ type: "hello", token: this.token, ...(this.teams.size ? { resume } : {}) }));
    };
    ws.onmessage = (event) => this.receive(JSON.parse(event.data));
    ws.onclose = (event) => this.closed(event.code, event.reason);
  }

  closed(code, reason) {
    if (NO_RECONNECT.has(code)) {
      $("link-state").textContent = "signed out";
      signIn(`The feed refused this token: ${reason || code}. Open a new link (leadgrab token --role manager --link).`);
      return;
    }
    const delay = Math.random() * Math.min(8000, 500 * 2 ** this.attempt);
    this.attempt += 1;
    $("link-state").textContent = "reconnecting…";
    setTimeout(() => this.connect(), delay);
  }

  team(name) {
    if (!this.teams.has(name)) {
      const team = new Team(name);
      team.feed = new Feed();
      this.teams.set(name, team);
      $("team").append(new Option(name, name));
      $("team-pick").hidden = this.teams.size < 2;
      if (!this.current) this.current = name;
    }
    return this.teams.get(name);
  }

  receive(m) {
    if (m.server_time_ms) this.skewMs = m.server_time_ms - Date.now();
    if (m.type === "error") {
      $("notice").textContent = m.message;
      return;
    }
    this.attempt = 0;
    $("link-state").textContent = "live";
    const team = this.team(m.team);
    if (m.type === "snapshot") {
      team.snapshot(m);
      team.feed = new Feed();
      const rows = [...m.decisions, ...m.presence].sort((a, b) => Number(a.ts) - Number(b.ts));
      for (const e of rows) team.feed.add(e, team);
    } else if (m.type === "events") {
      team.events(m);
      const rows = [...m.entries, ...m.presence].sort((a, b) => Number(a.ts) - Number(b.ts));
      for (const e of rows) team.feed.add(e, team);
      for (const e of m.entries) this.pendingLag.push(Number(e.ts));
      team.dirty.add("feed");
    } else if (m.type === "fairness") {
      team.fairness = { "1h": m["1h"], "24h": m["24h"] };
      team.dirty.add("fairness");
    } else if (m.type === "shift") {
      team.shift(m);
      team.feed.add({ ...m, id: `shift:${m.ts}:${m.rep}`, action: "shift" }, team);
      team.dirty.add("feed");
    }
    this.schedule();
  }

  tick() {
    const team = this.teams.get(this.current);
    if (!team) return;
    team.touch(team.ticking(this.now()));
    this.mark("leads");
  }

  mark(...parts) {
    const team = this.teams.get(this.current);
    if (!team) return;
    for (const p of parts) team.dirty.add(p);
    this.schedule();
  }

  schedule() {
    if (this.painting) return;
    this.painting = true;
    requestAnimationFrame(() => this.paint());
  }

  paint() {
    this.painting = false;
    const team = this.teams.get(this.current);
    if (!team) return;
    const now = this.now();
    const d = team.dirty;
    if (d.has("reps")) paintReps(team, now, this.act);
    if (d.has("leads")) paintLeads(team, now, this.act);
    if (d.has("feed")) paintFeed(team.feed);
    if (d.has("rules")) paintRules(team);
    if (d.has("fairness")) paintFairness(team, $("fair-window").value);
    d.clear();
    const painted = this.now();
    for (const ts of this.pendingLag) this.lags.push(painted - ts);
    this.pendingLag = [];
    if (this.lags.length > LAG_MAX) this.lags.splice(0, this.lags.length - LAG_MAX);
  }

  show(name) {
    this.current = name;
    this.teams.get(name).markAll();
    this.schedule();
  }

  repsOf(exclude) {
    const team = this.teams.get(this.current);
    return Object.keys(team.rules).filter((r) => r !== exclude && team.rules[r].active).sort();
  }

  async done(result, what) {
    $("notice").textContent = result.ok ? `${what}: done` : `${what}: ${failure(result)}`;
  }

  async dispatch(lead) {
    const answer = await ask({ title: `Dispatch ${lead.id}`, what: "Assign this open lead to a rep.", reps: this.repsOf() });
    if (!answer) return;
    const path = `/api/leads/${encodeURIComponent(lead.id)}/dispatch?team=${encodeURIComponent(this.current)}`;
    this.done(await this.api.call("POST", path, { rep: answer.rep, reason: answer.reason }), `dispatch ${lead.id}`);
  }

  async reassign(lead) {
    const answer = await ask({ title: `Reassign ${lead.id}`, what: `Held by ${lead.holder}: give it to another rep.`, reps: this.repsOf(lead.holder), reason: "required" });
    if (!answer) return;
    const path = `/api/leads/${encodeURIComponent(lead.id)}/dispatch?team=${encodeURIComponent(this.current)}`;
    this.done(await this.api.call("POST", path, { rep: answer.rep, force: true, reason: answer.reason }), `reassign ${lead.id}`);
  }

  async withdraw(lead) {
    const answer = await ask({ title: `Withdraw ${lead.id}`, what: "Nobody may claim it after.", reason: "required" });
    if (!answer) return;
    const path = `/api/leads/${encodeURIComponent(lead.id)}/withdraw?team=${encodeURIComponent(this.current)}`;
    this.done(await this.api.call("POST", path, { reason: answer.reason }), `withdraw ${lead.id}`);
  }

  async pause(rep, paused) {
    const path = `/api/reps/${encodeURIComponent(rep)}/${paused ? "pause" : "resume"}`;
    this.done(await this.api.call("POST", path), `${paused ? "pause" : "resume"} ${rep}`);
  }

  async reload() {
    const result = await this.api.call("POST", "/api/config/reload");
    if (!result.ok) return this.done(result, "reload");
    const teams = result.data.teams || {};
    const mine = teams[this.current];
    $("notice").textContent = mine ? `reload: rules version ${mine.version}${mine.changed ? "" : " (unchanged)"}` : "reload: done";
  }
}

function signIn(message) {
  $("board").hidden = true;
  $("signin").hidden = false;
  $("signin-message").textContent = message;
  sessionStorage.removeItem(TOKEN_KEY);
}

function tokenFromUrl() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function main() {
  $("signin-go").addEventListener("click", () => {
    const token = $("signin-token").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    location.reload();
  });
  const token = tokenFromUrl();
  if (!token) return signIn("");
  $("who").textContent = "";
  new Board(token).start();
}

main();
