// The live list of offers and the claims made on them.

import { countdown, stop } from "./countdown.js";
import { el, $, leadLines, shortName } from "./dom.js";
import * as words from "./wording.js";

const LINGER_MS = 5000; // a taken lead stays visible this long, with its note
// Offer rows kept in the page, newest first; older offers wait behind a "show older" button.
// A long list would cost every new row a layout and paint of all the rows it pushes down.
const PAGE = 20;
let counter = 0;

export class Offers {
  constructor(app) {
    this.app = app;
    this.rows = new Map(); // lead_id -> {lead, row, note, button, reqId, taken}
    this.claims = new Map(); // req_id -> lead_id, until its final answer
    this.list = $("offers");
    this.fresh = []; // rows to insert at the next animation frame, oldest first
    this.limit = PAGE; // rows in the page at most
    this.older = []; // offers whose rows are out of the page, newest first
    this.more = $("offers-more");
    this.more.addEventListener("click", () => this.showOlder());
  }

  has(leadId) {
    return this.rows.has(leadId);
  }

  add(lead) {
    const known = this.rows.get(lead.lead_id);
    if (known && !known.taken) {
      known.lead = lead;
      return false;
    }
    if (known) this.remove(lead.lead_id); // offered again (released or recycled): a fresh row
    const button = el("button", { type: "button", class: "primary", "aria-label": `Claim ${shortName(lead)}` }, "Claim");
    const note = el("p", { class: "note", role: "status" });
    const row = el("li", { class: "lead", dataset: { leadId: lead.lead_id } },
      ...leadLines(lead), el("div", { class: "actions" }, button), note);
    if (globalThis.leadgrabPaint) row.firstChild.setAttribute("elementtiming", `lead:${lead.lead_id}`);
    const entry = { lead, row, note, button, reqId: null, taken: false };
    button.addEventListener("click", () => this.claim(lead.lead_id));
    this.rows.set(lead.lead_id, entry);
    this.insert(entry);
    this.app.offersChanged();
    return true;
  }

  // New rows go in once per animation frame, together: one DOM change per frame however many
  // leads arrive, made just before the frame's style, layout and paint.
  insert(entry) {
    if (this.fresh.push(entry) === 1) requestAnimationFrame(() => this.flush());
  }

  flush() {
    const rows = this.fresh.filter((e) => this.rows.get(e.lead.lead_id) === e).map((e) => e.row);
    this.fresh = [];
    this.list.prepend(...rows.reverse());
    this.trim();
  }

  // At most `limit` rows in the page: the oldest move out (still offered, counted in the
  // title and claimable) and come back as rows above them leave.
  trim() {
    const shown = this.list.children;
    while (shown.length > this.limit) {
      const row = this.list.lastElementChild;
      row.remove();
      const entry = this.rows.get(row.dataset.leadId);
      if (entry) this.older.unshift(entry);
    }
    while (shown.length < this.limit && this.older.length) this.list.append(this.older.shift().row);
    this.more.hidden = this.older.length === 0;
    this.more.textContent = `Show older offers (${this.older.length} more)`;
  }

  showOlder() {
    this.limit += PAGE;
    this.trim();
  }

  remove(leadId) {
    const entry = this.rows.get(leadId);
    if (!entry) return null;
    this.rows.delete(leadId);
    if (entry.row.isConnected) entry.row.remove();
    else if (this.older.includes(entry)) this.older.splice(this.older.indexOf(entry), 1);
    this.trim();
    this.app.offersChanged();
    return entry;
  }

  count() {
    let n = 0;
    for (const entry of this.rows.values()) if (!entry.taken) n += 1;
    return n;
  }

  top() {
    const waiting = this.fresh.findLast((e) => this.rows.get(e.lead.lead_id) === e);
    if (waiting) return waiting.lead.lead_id;
    const first = this.list.querySelector("li.lead");
    return first ? first.dataset.leadId : null;
  }

  claim(leadId) {
    const entry = this.rows.get(leadId);
    if (!entry) return;
    counter += 1;
    const reqId = `c-${Date.now().toString(36)}-${counter}`;
    entry.reqId = reqId;
    this.claims.set(reqId, leadId);
    entry.button.disabled = true;
    this.say(entry, "claiming…", "wait");
    if (!this.app.link.send({ type: "claim", req_id: reqId, lead_id: leadId })) {
      this.say(entry, "not connected — the claim goes out when the connection is back", "wait");
    }
  }

  // After a reconnect: resend every unanswered claim with its original req_id.
  resend() {
    for (const [reqId, leadId] of this.claims) {
      this.app.link.send({ type: "claim", req_id: reqId, lead_id: leadId });
    }
  }

  taken(leadId) {
    const entry = this.rows.get(leadId);
    if (!entry || entry.taken) return;
    if (entry.reqId && this.claims.has(entry.reqId)) return; // our own answer decides
    this.leave(entry, words.TAKEN, "bad");
  }

  leave(entry, text, tone) {
    entry.taken = true;
    entry.row.classList.add("taken");
    entry.button.disabled = false; // a stale copy: claiming it tells the rep it was lost
    stop(entry.note);
    this.say(entry, text, tone);
    this.app.offersChanged();
    setTimeout(() => {
      if (this.rows.get(entry.lead.lead_id) === entry) this.remove(entry.lead.lead_id);
    }, LINGER_MS);
  }

  say(entry, text, tone) {
    entry.note.textContent = text;
    entry.note.className = `note ${tone || ""}`;
  }

  result(frame) {
    if (frame.result !== "pending") this.claims.delete(frame.req_id);
    const entry = this.rows.get(frame.lead_id);
    if (frame.result === "won") return this.won(frame, entry);
    if (!entry) return this.app.outcome(`${frame.lead_id}: ${this.text(frame, null)}`, "bad");
    if (frame.result === "lost") {
      this.leave(entry, words.LOST, "bad");
      return this.app.outcome(`${shortName(entry.lead)}: ${words.LOST}`, "bad");
    }
    if (frame.result === "pending") return this.pending(entry, frame);
    return this.rejected(entry, frame);
  }

  won(frame, entry) {
    const lead = entry ? entry.lead : { lead_id: frame.lead_id };
    if (entry) this.remove(frame.lead_id);
    this.app.mine.add(lead, null);
    this.app.outcome(`${shortName(lead)}: ${words.WON}`, "good");
    this.app.refreshStatus();
  }

  pending(entry, frame) {
    const until = Date.now() + (frame.retry_after_ms || 0);
    entry.note.className = "note wait";
    countdown(entry.note, until, words.pending);
    this.app.outcome(`${shortName(entry.lead)}: ${words.pending(frame.retry_after_ms || 0)}`, "wait");
  }

  rejected(entry, frame) {
    const retry = frame.retry_after_ms;
    if (frame.reason === "cooldown" && retry) this.app.coolUntil(Date.now() + retry);
    entry.note.className = "note bad";
    if (retry === undefined || retry === null) {
      entry.button.disabled = false;
      stop(entry.note);
      entry.note.textContent = this.text(frame, null);
    } else {
      const render = (left) => words.rejection(frame.reason, left, this.app.me);
      countdown(entry.note, Date.now() + retry, render, () => {
        entry.button.disabled = false;
        entry.note.className = "note good";
      });
    }
    this.app.outcome(`${shortName(entry.lead)}: ${this.text(frame, retry ?? null)}`, "bad");
  }

  text(frame, left) {
    if (frame.result === "lost") return words.LOST;
    if (frame.result === "rejected") return words.rejection(frame.reason, left, this.app.me);
    return frame.result;
  }
}
