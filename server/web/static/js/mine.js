// My leads: what the rep holds, its deadlines and warnings, and the actions on it.

import { countdown, stop } from "./countdown.js";
import { el, $, leadLines, shortName } from "./dom.js";
import * as words from "./wording.js";

const KEEP_GONE = 20;

function deadlineText(kind, left) {
  if (left <= 0) return "deadline passed — the lead is being recycled";
  const what = kind === "followup" ? "first follow-up due in" : "next follow-up due in";
  return `${what} ${words.duration(left)}`;
}

export class Mine {
  constructor(app) {
    this.app = app;
    this.rows = new Map(); // lead_id -> {lead, row, deadline, alert, noteInput, buttons}
    this.list = $("mine");
    this.gone = $("gone");
  }

  has(leadId) {
    return this.rows.has(leadId);
  }

  ids() {
    return [...this.rows.keys()];
  }

  add(lead, note) {
    if (this.rows.has(lead.lead_id)) return;
    const id = lead.lead_id;
    const name = shortName(lead);
    const input = el("input", { type: "text", maxlength: 2000, "aria-label": `Follow-up note for ${name}`, placeholder: "note (what you did)" });
    const button = (label, aria, fn) => el("button", { type: "button", "aria-label": `${aria} ${name}`, on: { click: fn } }, label);
    const entry = { lead, deadline: el("p", { class: "note deadline" }), alert: el("p", { class: "note bad", role: "alert" }) };
    entry.noteInput = input;
    entry.info = el("div", { class: "info" }, ...leadLines(lead));
    entry.row = el("li", { class: "lead", dataset: { leadId: id } },
      entry.info,
      el("div", { class: "actions" },
        button("Close won", "Close won", () => this.act({ type: "close", lead_id: id, outcome: "won" })),
        button("Close lost", "Close lost", () => this.act({ type: "close", lead_id: id, outcome: "lost" })),
        button("Release", "Release", () => this.act({ type: "release", lead_id: id }))),
      el("div", { class: "followup" }, input,
        button("Follow up", "Follow up", () => this.act({ type: "followup", lead_id: id, note: input.value || null }))),
      note ? el("p", { class: "note" }, note) : null, entry.deadline, entry.alert);
    this.rows.set(id, entry);
    this.list.prepend(entry.row);
    this.app.details(id).then((details) => this.fill(id, details));
  }

  // The stored lead (GET /api/leads/{id}): public fields and the next deadline.
  fill(id, details) {
    const entry = this.rows.get(id);
    if (!entry || !details) return;
    if (details.payload && !entry.lead.value) {
      entry.lead = details.payload;
      entry.info.replaceChildren(...leadLines(details.payload));
    }
    this.deadline(id, details.deadline_ms, details.deadline_kind);
  }

  deadline(id, deadlineMs, kind) {
    const entry = this.rows.get(id);
    if (!entry) return;
    if (!deadlineMs) {
      stop(entry.deadline);
      entry.deadline.textContent = "";
      return;
    }
    entry.kind = kind || entry.kind || "followup";
    countdown(entry.deadline, this.app.local(deadlineMs), (left) => deadlineText(entry.kind, left));
  }

  warning(frame) {
    const entry = this.rows.get(frame.lead_id);
    if (!entry) return;
    entry.row.classList.add("warning");
    const at = words.clock(this.app.local(frame.deadline_ms));
    entry.alert.textContent = `⚠ follow up before ${at} or this lead is recycled`;
    this.deadline(frame.lead_id, frame.deadline_ms, frame.kind);
  }

  act(frame) {
    if (!this.app.link.send(frame)) this.app.outcome("not connected — try again when the connection is back", "bad");
  }

  actionResult(frame) {
    const entry = this.rows.get(frame.lead_id);
    if (!entry) return;
    const name = shortName(entry.lead);
    if (!frame.ok) {
      this.app.outcome(`${name}: ${frame.action} refused — ${words.ACTION_REASON[frame.reason] || frame.reason}`, "bad");
      return;
    }
    if (frame.action === "followup") {
      entry.row.classList.remove("warning");
      entry.alert.textContent = "";
      entry.noteInput.value = "";
      this.deadline(frame.lead_id, frame.deadline_ms, "max_hold");
      this.app.outcome(`${name}: follow-up recorded`, "good");
      return;
    }
    const text = frame.action === "release" ? "released back to the team" : "closed";
    this.moveOut(frame.lead_id, text);
    this.app.outcome(`${name}: ${text}`, "good");
    this.app.refreshStatus();
  }

  revoked(frame) {
    const text = words.REVOKED[frame.reason] || `taken away (${frame.reason})`;
    const line = this.moveOut(frame.lead_id, text);
    if (!line) return;
    if (frame.reason === "followup" || frame.reason === "max_hold") {
      line.append(" — penalty: checking…");
      this.app.refreshStatus().then((me) => {
        line.textContent = `${line.dataset.base} — ${words.penalty(me, this.app)}`;
      });
    }
  }

  moveOut(leadId, text) {
    const entry = this.rows.get(leadId);
    if (!entry) return null;
    this.rows.delete(leadId);
    stop(entry.deadline);
    entry.row.remove();
    const base = `${shortName(entry.lead)}: ${text}`;
    const line = el("li", { class: "gone", dataset: { leadId, base } }, base);
    this.gone.prepend(line);
    while (this.gone.children.length > KEEP_GONE) this.gone.lastElementChild.remove();
    return line;
  }

  // After a (re)connect: the held set in welcome is the truth.
  sync(held) {
    for (const id of this.ids()) if (!held.includes(id)) this.moveOut(id, "no longer yours");
    for (const id of held) if (!this.rows.has(id)) this.add({ lead_id: id }, null);
  }
}
