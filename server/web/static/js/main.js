// The rep console: signs in, keeps the /ws link, and routes each v1 frame to the view.

import * as attention from "./attention.js";
import { countdown } from "./countdown.js";
import { Link } from "./connection.js";
import { $ } from "./dom.js";
import { Mine } from "./mine.js";
import { Offers } from "./offers.js";
import * as words from "./wording.js";

const TOKEN_KEY = "leadgrab.token";
const GAP = "some older events are no longer kept — the list may be stale";
const paint = globalThis.leadgrabPaint; // the paint benchmark's hook (tests/console_bench.py) only

class App {
  constructor(token) {
    this.token = token;
    this.me = { rep: "", open: 0, maxOpen: 0, today: 0, maxDaily: 0, timezone: "", cooldownUntil: 0 };
    this.skewMs = 0;
    this.connections = 0;
    this.replay = null; // {leads} while a resume replay is running
    this.offers = new Offers(this);
    this.mine = new Mine(this);
    this.link = new Link(token, { onFrame: (f) => this.frame(f), onState: (s, d) => this.state(s, d) });
  }

  start() {
    $("console").hidden = false;
    $("signin").hidden = true;
    $("pause").addEventListener("click", () => this.link.send({ type: this.me.paused ? "resume" : "pause" }));
    attention.setup($("opt-sound"), $("opt-notify"));
    this.link.connect();
  }

  local(serverMs) {
    return serverMs - this.skewMs;
  }

  async api(path) {
    try {
      const response = await fetch(path, { headers: { Authorization: `Bearer ${this.token}` }, cache: "no-store" });
      return response.ok ? await response.json() : null;
    } catch {
      return null;
    }
  }

  async details(leadId) {
    const found = await this.api(`/api/leads/${encodeURIComponent(leadId)}`);
    if (!found || !found.lead) return null;
    const lead = found.lead;  // the typed lead resource (GET /api/openapi.json: Lead)
    const payload = {
      lead_id: lead.id, team: lead.team, value: lead.value, priority: lead.priority,
      region: lead.region, skills: lead.skills, mode: lead.mode, customer_id: lead.customer || "",
      attrs: lead.attrs, window_ms: lead.window_ms,
    };
    const hold = (lead.deadlines || []).find((d) => d.applies_to === "hold");
    return { payload, deadline_ms: hold ? hold.ms : 0, deadline_kind: hold ? hold.kind : undefined };
  }

  // Quota and cooldown after a decision that changed them (one read, not polling).
  async refreshStatus() {
    const state = await this.api(`/api/reps/${encodeURIComponent(this.me.rep)}`);
    if (state) {
      this.me.open = state.open_held;  // the typed rep resource (GET /api/openapi.json: Rep)
      this.me.today = state.today;
      this.coolUntil(state.cooldown_until_ms ? this.local(state.cooldown_until_ms) : 0);
    }
    this.renderStatus();
    return this.me;
  }

  coolUntil(clientMs) {
    this.me.cooldownUntil = clientMs;
    this.renderStatus();
  }

  frame(f) {
    const handler = HANDLERS[f.type];
    if (handler) handler(this, f);
  }

  fresh(f) {
    // a frame with a seq at or before the last one processed was seen already
    if (typeof f.seq !== "string") return true;
    const before = this.link.lastSeq;
    this.link.saw(f.seq);
    return this.link.lastSeq !== before;
  }

  welcome(f) {
    const q = f.quota || {};
    this.skewMs = f.server_time_ms - Date.now();
    Object.assign(this.me, {
      rep: f.rep, team: f.team, open: q.open, maxOpen: q.max_open, today: q.today,
      maxDaily: q.max_daily, day: q.day, timezone: f.timezone || "", paused: !!f.paused, shift: f.shift || null,
    });
    this.coolUntil(f.cooldown_until_ms ? this.local(f.cooldown_until_ms) : 0);
    $("who").textContent = `— ${f.rep} (${f.team})`;
    if (Array.isArray(f.held)) this.mine.sync(f.held);
    this.connections += 1;
    this.replay = this.connections > 1 ? { leads: 0 } : null;
    if (this.replay && !this.link.lastSeq) this.back(0);
    this.offers.resend();
    this.offersChanged();
  }

  lead(f) {
    const arrived = paint ? performance.now() : 0;
    // the pool on connect: open leads, newest first; their seq is no resume point
    if ((!f.snapshot && !this.fresh(f)) || this.mine.has(f.lead_id)) return;
    if (!this.offers.add(f)) return;
    if (f.snapshot) return;
    if (this.replay) this.replay.leads += 1;
    else attention.newLead(`¥${f.value} · ${f.region || "any region"}`);
    if (paint) paint.arrived(f.lead_id, arrived);
  }

  limits(f) {
    const q = f.quota || {};
    Object.assign(this.me, { open: q.open, maxOpen: q.max_open, today: q.today, maxDaily: q.max_daily, day: q.day });
    this.coolUntil(f.cooldown_until_ms ? this.local(f.cooldown_until_ms) : 0);
    this.renderStatus();
    this.outcome(`rules changed: ${q.max_open} open at a time, ${q.max_daily} a day`, "");
  }

  back(missed) {
    const stale = this.replay && this.replay.gap ? `; ${GAP}` : "";
    this.banner(`back — ${missed} missed lead${missed === 1 ? "" : "s"}${stale}`, "back");
    this.replay = null;
  }

  state(state, detail) {
    if (state === "reconnecting") this.banner("reconnecting…", "");
    if (state === "closed") this.closed(detail);
  }

  closed(detail) {
    if (detail.code === 4001) return this.signedOut(detail.reason || "the token was refused");
    this.banner(`disconnected (${detail.code}${detail.reason ? `: ${detail.reason}` : ""}) — reload the page`, "");
  }

  signedOut(message) {
    this.link.stop();
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn(`Signed out: ${message}. Open a new link (leadgrab token --rep YOUR_ID --link) or paste a token.`);
  }

  banner(text, kind) {
    const node = $("banner");
    node.hidden = false;
    node.className = kind;
    node.textContent = text;
  }

  outcome(text, tone) {
    const node = $("outcome");
    node.textContent = text;
    node.className = tone || "";
  }

  offersChanged() {
    const n = this.offers.count();
    $("offers-count").textContent = String(n);
    attention.title(this.me.rep, n);
  }

  renderStatus() {
    const me = this.me;
    $("st-open").textContent = `${me.open ?? 0} / ${me.maxOpen ?? 0}`;
    $("st-today").textContent = `${me.today ?? 0} / ${me.maxDaily ?? 0}`;
    countdown($("st-cooldown"), me.cooldownUntil, (left) => (left > 0 ? `${words.duration(left)} left` : "none"));
    $("st-shift").textContent = shiftText(me, this);
    $("pause").textContent = me.paused ? "Resume" : "Pause";
    $("pause").setAttribute("aria-pressed", String(!!me.paused));
  }
}

function shiftText(me, app) {
  if (!me.shift) return "no shift limits";
  if (me.shift.until_ms === null || me.shift.until_ms === undefined) return me.shift.on ? "on" : "off";
  const at = words.clock(app.local(me.shift.until_ms), me.timezone);
  return `${me.shift.on ? "on" : "off"} until ${at}`;
}

const HANDLERS = {
  welcome: (app, f) => app.welcome(f),
  lead: (app, f) => app.lead(f),
  limits: (app, f) => app.limits(f),
  lead_taken: (app, f) => app.fresh(f) && app.offers.taken(f.lead_id),
  assigned: (app, f) => {
    if (!app.fresh(f)) return;
    app.offers.remove(f.lead_id);
    app.mine.add(f.lead || { lead_id: f.lead_id }, `assigned by ${f.by}${f.reason ? ` — ${f.reason}` : ""}`);
    app.refreshStatus();
  },
  claim_result: (app, f) => app.offers.result(f),
  action_result: (app, f) => {
    if (f.action === "pause" || f.action === "resume") {
      if (f.ok) app.me.paused = f.action === "pause";
      return app.renderStatus();
    }
    return app.mine.actionResult(f);
  },
  revoked: (app, f) => app.mine.revoked(f),
  warning: (app, f) => app.mine.warning(f),
  paused: (app, f) => {
    app.me.paused = !!f.paused;
    app.renderStatus();
  },
  gap: (app) => {
    if (app.replay) app.replay.gap = true;
    app.banner(GAP, "");
  },
  resumed: (app) => app.back(app.replay ? app.replay.leads : 0),
  error: (app, f) => {
    if (f.code === "auth_failed") return app.signedOut(f.message);
    return app.outcome(`server: ${f.message}`, "bad");
  },
};

function showSignIn(message) {
  $("console").hidden = true;
  $("signin").hidden = false;
  $("signin-message").textContent = message || "";
  $("signin-token").focus();
}

function tokenFromUrl() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function boot() {
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("signin-token").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    location.reload();
  });
  $("signout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    location.reload();
  });
  const token = tokenFromUrl();
  if (!token) return showSignIn("");
  const app = new App(token);
  document.addEventListener("keydown", (event) => {
    if (event.key !== "c" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement) return;
    const top = app.offers.top();
    if (top) {
      event.preventDefault();
      app.offers.claim(top);
    }
  });
  app.start();
}

boot();
