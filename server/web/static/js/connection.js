// The /ws link: hello with resume, full-jitter exponential backoff, and the close-code table
// of docs/protocol.md ("Close codes and reconnecting"). JSON subprotocol.

export const SUBPROTOCOL = "leadgrab.v1.json";
const BASE_MS = 500;
const CAP_MS = 8000;
const NO_RECONNECT = new Set([1000, 1002, 1003, 1007, 1008, 1009, 1010, 4001, 4002]);

export function shouldReconnect(code) {
  return !NO_RECONNECT.has(code) && !(code >= 4500 && code <= 4999);
}

// Compares two stream ids "<ms>-<n>": negative, zero or positive.
export function compareSeq(a, b) {
  const [am, an] = a.split("-").map(Number);
  const [bm, bn] = b.split("-").map(Number);
  return am - bm || an - bn;
}

export class Link {
  // handlers: onFrame(frame), onState(state, detail) with state in
  // "connecting" | "open" | "reconnecting" | "closed"
  constructor(token, handlers) {
    this.token = token;
    this.handlers = handlers;
    this.lastSeq = null;
    this.attempt = 0;
    this.ws = null;
    this.stopped = false;
    this.timer = null;
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws`;
  }

  connect() {
    this.handlers.onState(this.attempt === 0 ? "connecting" : "reconnecting", {});
    const ws = new WebSocket(this.url(), SUBPROTOCOL);
    this.ws = ws;
    ws.onopen = () => {
      const hello = { type: "hello", token: this.token };
      if (this.lastSeq) hello.resume = this.lastSeq;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (event) => this.receive(event.data);
    ws.onclose = (event) => this.closed(event.code, event.reason);
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (!frame || typeof frame.type !== "string") return;
    if (frame.type === "welcome") this.attempt = 0;
    this.handlers.onFrame(frame);
  }

  // Remember a processed frame's stream position, for the next hello's resume.
  saw(seq) {
    if (typeof seq === "string" && (!this.lastSeq || compareSeq(seq, this.lastSeq) > 0)) {
      this.lastSeq = seq;
    }
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  closed(code, reason) {
    this.ws = null;
    if (this.stopped) return;
    if (!shouldReconnect(code)) {
      this.handlers.onState("closed", { code, reason });
      return;
    }
    const delay = Math.random() * Math.min(CAP_MS, BASE_MS * 2 ** this.attempt);
    this.attempt += 1;
    this.handlers.onState("reconnecting", { code, delay });
    this.timer = setTimeout(() => this.connect(), delay);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "signed out");
  }
}
