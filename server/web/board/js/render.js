// Painting one team's model into the page: reps, open and held leads, the feed, rules and
// fairness. Lead and rep fields are text nodes only (they come from web forms).

import { $, el } from "/static/js/dom.js";
import { barChart, figures } from "./chart.js";
import { repStatus } from "./model.js";

// without a configured warning: the last fifth of the deadline, at most the last minute
const AT_RISK_MS = 60_000;

export function seconds(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// The lead resource's deadline that applies to `what` (hold, window, owner), or undefined.
export function deadline(lead, what) {
  return (lead.deadlines || []).find((d) => d.applies_to === what);
}

export function atRisk(lead, team, now) {
  const due = deadline(lead, "hold");
  if (!due) return false;
  const rules = team.rules[lead.holder] || {};
  const span = Number(rules.followup_sla_ms) || Number(rules.max_hold_ms) || 5 * AT_RISK_MS;
  const warn = Number(rules.warn_before_ms) || Math.min(AT_RISK_MS, span / 5);
  return due.ms - now <= warn;
}

function repRow(rep, team, now, act) {
  const status = repStatus(rep);
  const cooling = rep.cooldown_until_ms > now ? seconds(rep.cooldown_until_ms - now) : "–";
  const risky = rep.held.filter((id) => team.leads.has(id) && atRisk(team.leads.get(id), team, now)).length;
  const toggle = el("button", { type: "button", on: { click: () => act.pause(rep.id, !rep.paused) } },
    rep.paused ? "Resume" : "Pause");
  return el("tr", { dataset: { rep: rep.id }, class: risky ? "at-risk" : "" },
    el("td", {}, rep.id),
    el("td", { class: `status-${status.split(" ")[0]}` }, status),
    el("td", {}, `${rep.held.length} / ${rep.limits.max_open ?? "∞"}`),
    el("td", {}, `${rep.today} / ${rep.limits.max_daily ?? "∞"}`),
    el("td", {}, cooling),
    el("td", {}, risky ? String(risky) : ""),
    el("td", {}, toggle));
}

// Every row (after a snapshot, a reload or a team switch), else only the rows in team.repRows.
export function paintReps(team, now, act) {
  const reps = [...team.reps.values()].sort((a, b) => a.id.localeCompare(b.id));
  const body = $("reps").tBodies[0];
  if (!team.repRows) {
    body.replaceChildren(...reps.map((r) => repRow(r, team, now, act)));
  } else {
    for (const id of team.repRows) {
      const old = body.querySelector(`tr[data-rep="${CSS.escape(id)}"]`);
      if (old && team.reps.has(id)) old.replaceWith(repRow(team.reps.get(id), team, now, act));
    }
  }
  team.repRows = new Set();
  const online = reps.filter((r) => repStatus(r) === "online").length;
  $("reps-summary").textContent = `${online} online of ${reps.length}`;
}

function title(lead) {
  const a = lead.attrs || {};
  const label = a.name || a.company || a.customer || a.title || "";
  return label ? `${lead.id} · ${label}` : lead.id;
}

function facts(lead) {
  const parts = [`¥${lead.value || 0}`];
  if (lead.region) parts.push(lead.region);
  if (lead.priority) parts.push(`priority ${lead.priority}`);
  if (lead.skills.length) parts.push(`skills: ${lead.skills.join(", ")}`);
  if (lead.customer) parts.push(`customer ${lead.customer}`);
  for (const [k, v] of Object.entries(lead.attrs || {})) parts.push(`${k}: ${v}`);
  return parts.join(" · ");
}

export function stage(lead, now) {
  const stages = lead.stages;
  const owner = deadline(lead, "owner");
  if (!stages.length) return owner && owner.ms > now ? `owner ${lead.owner} first` : "all reps";
  const base = lead.release_base_ms || 0;
  let current = -1;
  stages.forEach((s, i) => { if (base + s.after_ms <= now) current = i; });
  const next = stages[current + 1];
  const here = current < 0 ? "not yet released" : `stage ${current + 1}/${stages.length} (${stages[current].tiers.join(", ")})`;
  return next ? `${here}, next in ${seconds(base + next.after_ms - now)}` : here;
}

function openItem(lead, now, act) {
  const ends = deadline(lead, "window");
  const windowText = lead.state === "window" && ends
    ? `window closes in ${seconds(ends.ms - now)}`
    : lead.mode === "window" ? "window: waiting for a first claim" : "first come";
  return el("li", { dataset: { leadId: lead.id, state: lead.state } },
    el("div", { class: "title" }, title(lead)),
    el("div", { class: "acts" },
      el("button", { type: "button", on: { click: () => act.dispatch(lead) } }, "Dispatch"),
      el("button", { type: "button", on: { click: () => act.withdraw(lead) } }, "Withdraw")),
    el("div", { class: "facts" }, facts(lead)),
    el("div", { class: "facts" }, `age ${seconds(now - lead.published_ms)} · ${stage(lead, now)} · ${windowText}`));
}

function heldItem(lead, team, now, act) {
  const risky = atRisk(lead, team, now);
  const hold = deadline(lead, "hold");
  const due = hold
    ? `${hold.kind === "max_hold" ? "hold ends" : "follow-up due"} in ${seconds(hold.ms - now)}`
    : "no deadline";
  return el("li", { dataset: { leadId: lead.id, holder: lead.holder }, class: risky ? "at-risk" : "" },
    el("div", { class: "title" }, `${title(lead)} — held by ${lead.holder}`),
    el("div", { class: "acts" },
      el("button", { type: "button", on: { click: () => act.reassign(lead) } }, "Reassign"),
      el("button", { type: "button", on: { click: () => act.withdraw(lead) } }, "Withdraw")),
    el("div", { class: "facts" }, facts(lead)),
    el("div", { class: "facts due" }, due));
}

export function paintLeads(team, now, act) {
  const leads = [...team.leads.values()];
  const due = (l) => (deadline(l, "hold") || { ms: Infinity }).ms;
  const open = leads.filter((l) => l.state !== "held")
    .sort((a, b) => a.published_ms - b.published_ms || a.id.localeCompare(b.id));
  const held = leads.filter((l) => l.state === "held")
    .sort((a, b) => due(a) - due(b) || a.id.localeCompare(b.id));
  $("open").replaceChildren(...open.map((l) => openItem(l, now, act)));
  $("held").replaceChildren(...held.map((l) => heldItem(l, team, now, act)));
  $("open-count").textContent = String(open.length);
  $("held-count").textContent = String(held.length);
}

export function paintFeed(feed) {
  $("feed").replaceChildren(...feed.lines.map((l) => el("li", { class: l.kind, dataset: { key: l.key } }, l.text)));
}

export function paintRules(team) {
  const reps = Object.keys(team.rules).sort();
  const names = reps.length ? Object.keys(team.rules[reps[0]]) : [];
  $("rules-version").textContent = `version ${team.rulesVersion}`;
  $("rules").tHead.replaceChildren(el("tr", {}, el("th", {}, "rep"), ...names.map((n) => el("th", {}, n))));
  $("rules").tBodies[0].replaceChildren(...reps.map((rep) => {
    const cells = names.map((n) => {
      const changed = team.changedRules.has(`${rep}|${n}`);
      const v = team.rules[rep][n];
      const text = v !== null && typeof v === "object" ? JSON.stringify(v) : String(v ?? "-");
      return el("td", { class: changed ? "changed" : "", dataset: { rule: n } }, text);
    });
    const changed = names.some((n) => team.changedRules.has(`${rep}|${n}`));
    return el("tr", { dataset: { rep }, class: changed ? "changed" : "" }, el("td", {}, rep), ...cells);
  }));
  const n = team.changedRules.size;
  $("rules-changed").textContent = team.previousRules
    ? (n ? `${n} rule value(s) changed by the last reload (highlighted)` : "the last reload changed no rep's rules")
    : "";
}

export function paintFairness(team, window) {
  const report = team.fairness[window];
  if (!report) return;
  $("chart").replaceChildren(barChart(report.reps));
  $("figures").replaceChildren(...figures(report.figures));
}
