// Live countdowns: each registered node re-renders its text until its deadline passes.

const live = new Map();
const TICK_MS = 250;

export function countdown(node, untilMs, render, onZero) {
  live.set(node, { untilMs, render, onZero });
  node.textContent = render(untilMs - Date.now());
}

export function stop(node) {
  live.delete(node);
}

function tick() {
  const now = Date.now();
  for (const [node, c] of live) {
    if (!node.isConnected) {
      live.delete(node);
      continue;
    }
    const left = c.untilMs - now;
    node.textContent = c.render(left);
    if (left <= 0) {
      live.delete(node);
      if (c.onZero) c.onZero();
    }
  }
}

setInterval(tick, TICK_MS);
