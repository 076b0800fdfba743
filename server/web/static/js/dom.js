// DOM helpers: every string becomes a text node, never HTML (lead fields come from web forms).

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "on") for (const [name, fn] of Object.entries(value)) node.addEventListener(name, fn);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

export const $ = (id) => document.getElementById(id);

const money = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

// A lead's public attributes as three lines of text nodes.
export function leadLines(lead) {
  const region = lead.region ? String(lead.region) : "any region";
  const head = `¥${money.format(Number(lead.value) || 0)} · priority ${lead.priority ?? 0} · ${region}`;
  const facts = [`#${lead.lead_id}`];
  if (Array.isArray(lead.skills) && lead.skills.length) facts.push(`skills: ${lead.skills.join(", ")}`);
  if (lead.customer_id) facts.push(`customer ${lead.customer_id}`);
  if (lead.mode === "window") facts.push(`lottery window ${Math.round((lead.window_ms || 0) / 1000)} s`);
  if (lead.opens_ms) facts.push(`opens for you at ${new Date(lead.opens_ms).toLocaleTimeString()}`);
  const attrs = Object.entries(lead.attrs || {}).map(([k, v]) => `${k}: ${v}`).join(" · ");
  return [
    el("div", { class: "head" }, head),
    el("div", { class: "facts" }, facts.join(" · ")),
    attrs ? el("div", { class: "attrs" }, attrs) : null,
  ];
}

export function shortName(lead) {
  const label = lead.attrs && (lead.attrs.customer || lead.attrs.name || lead.attrs.company);
  return label ? `${lead.lead_id} (${label})` : String(lead.lead_id);
}
