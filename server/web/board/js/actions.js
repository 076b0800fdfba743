// Acting from the board through the manager API: dispatch, reassign, withdraw, pause and
// resume, reload; and the audit search with its downloads.

import { $, el } from "/static/js/dom.js";

export class Api {
  constructor(token) {
    this.token = token;
  }

  async call(method, path, body) {
    const headers = { Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      const response = await fetch(path, { method, headers, cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body) });
      const data = await response.json().catch(() => null);
      return { ok: response.ok, status: response.status, data };
    } catch (exc) {
      return { ok: false, status: 0, data: { error: { message: String(exc) } } };
    }
  }

  async download(path, filename) {
    const response = await fetch(path, { headers: { Authorization: `Bearer ${this.token}` }, cache: "no-store" });
    if (!response.ok) return false;
    const url = URL.createObjectURL(await response.blob());
    const a = el("a", { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    return true;
  }
}

export function failure(result) {
  const d = result.data || {};
  if (d.error) return d.error.message || d.error.code;
  if (d.reason) return `refused: ${d.reason}`;
  return `failed (${result.status})`;
}

// The one dialog every action uses: optional rep choice, optional or required reason.
export function ask({ title, what, reps = null, reason = "optional" }) {
  return new Promise((resolve) => {
    const dialog = $("act");
    $("act-title").textContent = title;
    $("act-what").textContent = what;
    $("act-error").textContent = "";
    $("act-rep-label").hidden = !reps;
    $("act-reason-label").hidden = reason === "none";
    $("act-reason").value = "";
    const select = $("act-rep");
    select.replaceChildren(...(reps || []).map((r) => el("option", { value: r }, r)));
    const done = (value) => {
      $("act-go").onclick = null;
      $("act-cancel").onclick = null;
      dialog.close();
      resolve(value);
    };
    $("act-go").onclick = () => {
      const why = $("act-reason").value.trim();
      if (reason === "required" && !why) {
        $("act-error").textContent = "A reason is required: the audit records it.";
        return;
      }
      done({ rep: select.value, reason: why });
    };
    $("act-cancel").onclick = () => done(null);
    dialog.showModal();
    (reps ? select : $("act-reason")).focus();
  });
}

export class Audit {
  constructor(api, teamName) {
    this.api = api;
    this.teamName = teamName;
    this.next = null;
    this.asked = 0; // the newest search: an older answer arriving later is dropped
    $("audit-search").addEventListener("click", () => this.search(null));
    $("audit-next").addEventListener("click", () => this.search(this.next));
    $("audit-jsonl").addEventListener("click", () => this.download("jsonl"));
    $("audit-csv").addEventListener("click", () => this.download("csv"));
  }

  query(extra) {
    const params = new URLSearchParams({ team: this.teamName(), ...extra });
    const lead = $("audit-lead").value.trim();
    const rep = $("audit-rep").value.trim();
    if (lead) params.set("lead", lead);
    if (rep) params.set("rep", rep);
    return params;
  }

  async search(cursor) {
    const params = this.query({ limit: "50" });
    if (cursor) params.set("cursor", cursor);
    const asked = ++this.asked;
    const result = await this.api.call("GET", `/api/audit?${params}`);
    if (asked !== this.asked) return;
    if (!result.ok) {
      $("audit-status").textContent = failure(result);
      return;
    }
    const { entries, next } = result.data;
    this.next = next;
    $("audit-next").disabled = !next;
    $("audit-status").textContent = `${entries.length} entries${next ? " (more: next page)" : ""}`;
    $("audit").tBodies[0].replaceChildren(...entries.map((e) => el("tr", {},
      ...[new Date(Number(e.ts)).toISOString().replace("T", " ").slice(0, 19), e.action, e.lead,
        e.rep, e.actor, e.result, e.reason].map((v) => el("td", {}, v ?? "")))));
  }

  async download(format) {
    const params = this.query({ format });
    const ok = await this.api.download(`/api/audit?${params}`, `audit-${this.teamName()}.${format}`);
    $("audit-status").textContent = ok ? `downloaded ${format.toUpperCase()}` : "download refused";
  }
}
