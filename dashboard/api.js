// Talking to the public API: queries over HTTP POST, the live feed over graphql-transport-ws.

const ENDPOINT = new URL("../graphql", document.baseURI);

export class ApiError extends Error {}

export async function gql(query, variables = {}) {
  let res;
  try {
    res = await fetch(ENDPOINT, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ query, variables }),
    });
  } catch (err) {
    throw new ApiError(`Server tidak dapat dihubungi (${err.message}).`);
  }
  let body;
  try {
    body = await res.json();
  } catch {
    throw new ApiError(`Jawaban server tidak terbaca (HTTP ${res.status}).`);
  }
  if (body.errors && body.errors.length) {
    throw new ApiError(body.errors.map((e) => e.message).join("; "));
  }
  if (!res.ok) throw new ApiError(`HTTP ${res.status}`);
  return body.data;
}

function socketUrl() {
  const url = new URL(ENDPOINT);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

const PROTOCOL = "graphql-transport-ws";
const BACKOFF_MIN_MS = 800;
const BACKOFF_MAX_MS = 30000;
const PING_EVERY_MS = 25000;
const PONG_WITHIN_MS = 10000;

/**
 * One subscription kept alive across network trouble: on every (re)connection it subscribes
 * again with `after` = the cursor of the last event received, so the server replays what was
 * missed while the socket was down. Reconnects with exponential backoff and jitter.
 *
 * `field` is the subscription field whose payload carries `cursor` (here `reportEvents`).
 * Status callbacks: connecting | live | waiting (with the delay in ms) | error.
 */
export class LiveSubscription {
  constructor({ query, field, onEvent, onStatus }) {
    this.query = query;
    this.field = field;
    this.onEvent = onEvent;
    this.onStatus = onStatus || (() => {});
    this.variables = {};
    this.cursor = null;
    this.ws = null;
    this.opId = 0;
    this.activeOp = null;
    this.attempt = 0;
    this.timer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.stopped = true;
  }

  /** Start, or switch to other variables (a filter change): live from now, cursor kept for resuming. */
  start(variables) {
    this.variables = variables || {};
    this.stopped = false;
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.acked) {
      if (this.activeOp) this._send({ id: this.activeOp, type: "complete" });
      this._subscribe(false);
    } else if (!this.ws && !this.timer) {
      this._connect();
    }
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    this._stopPing();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, "bye");
    }
  }

  _connect() {
    this.timer = null;
    this.acked = false;
    this.onStatus("connecting");
    let ws;
    try {
      ws = new WebSocket(socketUrl(), PROTOCOL);
    } catch {
      this._retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => this._send({ type: "connection_init", payload: {} });
    ws.onmessage = (msg) => this._message(ws, msg);
    ws.onclose = () => {
      if (this.ws !== ws) return; // a socket we replaced or closed on purpose
      this.ws = null;
      this.activeOp = null;
      this._stopPing();
      if (!this.stopped) this._retry();
    };
    ws.onerror = () => {}; // onclose follows and schedules the retry
  }

  _retry() {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.attempt += 1;
    this.onStatus("waiting", delay);
    this.timer = setTimeout(() => this._connect(), delay);
  }

  _send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** resume: pass `after` (the last cursor) so nothing is missed across a reconnect. */
  _subscribe(resume) {
    this.opId += 1;
    this.activeOp = String(this.opId);
    const variables = { ...this.variables };
    if (resume && this.cursor) variables.after = this.cursor;
    this._send({ id: this.activeOp, type: "subscribe", payload: { query: this.query, variables } });
  }

  _message(ws, msg) {
    if (this.ws !== ws) return;
    let data;
    try {
      data = JSON.parse(msg.data);
    } catch {
      return;
    }
    switch (data.type) {
      case "connection_ack":
        this.acked = true;
        this.attempt = 0;
        this._subscribe(true);
        this._startPing();
        this.onStatus("live");
        break;
      case "ping":
        this._send({ type: "pong" });
        break;
      case "pong":
        clearTimeout(this.pongTimer);
        break;
      case "next": {
        if (data.id !== this.activeOp) return; // a late event of a subscription we completed
        const payload = data.payload || {};
        if (payload.errors && payload.errors.length) {
          this.onStatus("error", payload.errors[0].message);
          return;
        }
        const event = payload.data && payload.data[this.field];
        if (!event) return;
        if (event.cursor) this.cursor = event.cursor;
        this.onEvent(event);
        break;
      }
      case "error":
        if (data.id !== this.activeOp) return;
        this.onStatus("error", (data.payload && data.payload[0] && data.payload[0].message) || "error");
        // A cursor the server refuses would fail every retry: resume live instead.
        this.cursor = null;
        ws.close(4400, "subscription error");
        break;
      case "complete":
        if (data.id === this.activeOp) ws.close(1000, "completed"); // the server ended it: resume
        break;
      default:
        break;
    }
  }

  _startPing() {
    this._stopPing();
    this.pingTimer = setInterval(() => {
      this._send({ type: "ping" });
      clearTimeout(this.pongTimer);
      const ws = this.ws;
      this.pongTimer = setTimeout(() => ws && ws.close(4408, "no pong"), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  _stopPing() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }
}
