// Fairness: wins per rep as an SVG bar chart drawn in the page, and the team figures with a
// sentence each saying what they mean.

import { el } from "/static/js/dom.js";

const NS = "http://www.w3.org/2000/svg";
const MAX_BARS = 40;

function svg(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export function barChart(reps) {
  const rows = Object.entries(reps).map(([id, f]) => [id, Number(f.wins) || 0])
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, MAX_BARS);
  const top = Math.max(1, ...rows.map((r) => r[1]));
  const rowH = 18;
  const width = 360;
  const label = 90;
  const root = svg("svg", { viewBox: `0 0 ${width} ${Math.max(rowH, rows.length * rowH)}`, role: "img" });
  root.append(svg("title", {}, "Wins per rep"));
  rows.forEach(([id, wins], i) => {
    const w = Math.round(((width - label - 40) * wins) / top);
    const g = svg("g", { class: "bar", "data-rep": id, "data-wins": wins });
    g.append(svg("text", { x: 0, y: i * rowH + 13 }, id));
    g.append(svg("rect", { class: `bar-rect${wins === top && wins > 0 ? " top" : ""}`, x: label, y: i * rowH + 3, width: w, height: rowH - 6 }));
    g.append(svg("text", { x: label + w + 4, y: i * rowH + 13 }, String(wins)));
    root.append(g);
  });
  return root;
}

const share = (x) => (x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)} %`);
const num = (x) => (x === null || x === undefined ? "–" : Number(x).toFixed(3));

export function figures(f) {
  return [
    ["Jain's index", num(f.jain), "jain", "1 means every eligible rep won equally; 1/n means one rep won everything."],
    ["Gini", num(f.gini), "gini", "0 means wins are spread evenly; close to 1 means a few reps take almost all."],
    ["Top-10 % share", share(f.top10_share), "top10", "The share of wins taken by the top tenth of reps (at least one rep)."],
    ["Speed-decided", share(f.speed_decided_share), "speed", "Contests won by a margin under 50 ms: decided by reflexes, not rules."],
  ].flatMap(([name, value, key, why]) => [
    el("dt", {}, name),
    el("dd", { "data-figure": key }, el("span", { class: "value" }, value), " ", el("span", { class: "why" }, why)),
  ]);
}
