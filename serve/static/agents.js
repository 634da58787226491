// ray-agents browser client (no build step). See docs/protocol.md.
//
//   import { AgentClient } from "/static/agents.js";
//   const counter = new AgentClient("counter", "alice", { onState: (s) => render(s) });
//   await counter.ready;
//   await counter.call("add", 1);
//
// Reconnects with backoff (same connection id); calls made while disconnected are sent on reconnect.

const PROTOCOL = 2;
// Acknowledge what was read at least this often (frames, or characters and bytes): the server
// closes (1013) a socket whose client leaves too much unread, and this client reconnects.
const ACK_EVERY_FRAMES = 16, ACK_EVERY_BYTES = 64 * 1024;

function applyPatch(doc, ops) {
  doc = structuredClone(doc);
  for (const { op, path, value } of ops) {
    if (path === "") { doc = structuredClone(value); continue; }
    const tokens = path.slice(1).split("/").map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = tokens.pop();
    let target = doc;
    for (const t of tokens) {
      target = Array.isArray(target) ? target[Number(t)] : target[t];
      if (target === undefined) throw new Error(`patch path ${path} does not exist`);
    }
    if (Array.isArray(target)) {
      if (op === "add" && last === "-") target.push(value);
      else if (op === "add") target.splice(Number(last), 0, value);
      else if (op === "remove") target.splice(Number(last), 1);
      else target[Number(last)] = value;
    } else if (op === "remove") delete target[last];
    else target[last] = value;
  }
  return doc;
}

export class AgentError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

export class AgentClient {
  constructor(agent, id, { base = location.origin, onState, onMessage, query = {}, connId } = {}) {
    this.connId = connId || crypto.randomUUID().replaceAll("-", "");
    const params = new URLSearchParams({ ...query, conn: this.connId });
    this.url = `${base.replace(/^http/, "ws")}/agents/${encodeURIComponent(agent)}/${encodeURIComponent(id)}?${params}`;
    this.onState = onState; this.onMessage = onMessage;
    this.state = undefined; this.seq = null; this.identity = null;
    this._calls = new Map(); this._unsent = []; this._nextId = 1; this._closed = false; this._attempt = 0;
    this.ready = new Promise((resolve) => { this._resolveReady = resolve; });
    this._open();
  }

  _open() {
    const resume = this.identity?.resume ? `&resume=${encodeURIComponent(this.identity.resume)}` : "";
    const ws = (this._ws = new WebSocket(this.url + resume));
    ws.binaryType = "arraybuffer";
    let read = 0, acked = 0, unackedSize = 0;
    ws.onopen = () => { this._attempt = 0; ws.send(JSON.stringify({ type: "hello", protocol: PROTOCOL })); };
    ws.onmessage = (event) => {
      read += 1; unackedSize += event.data.length ?? event.data.byteLength;
      if (read - acked >= ACK_EVERY_FRAMES || unackedSize >= ACK_EVERY_BYTES) {
        ws.send(JSON.stringify({ type: "ack", frames: read })); acked = read; unackedSize = 0;
      }
      this._receive(event.data);
    };
    ws.onclose = (event) => {
      for (const [id, call] of this._calls) if (call.sent) { call.reject(new AgentError("connection_lost", "connection dropped")); this._calls.delete(id); }
      this._connected = false;
      if (this._closed || (event.code >= 4400 && event.code < 4500 && event.code !== 4410)) return;
      const delay = Math.min(5000, 50 * 2 ** this._attempt++) * (0.5 + Math.random());
      setTimeout(() => this._open(), delay);
    };
  }

  _receive(data) {
    let frame = null;
    if (typeof data === "string" && data.startsWith("{")) {
      try { frame = JSON.parse(data); } catch { frame = null; }
    }
    const kinds = ["identity", "state", "state_patch", "result", "chunk", "end", "error", "close"];
    if (!frame || !kinds.includes(frame.type)) { this.onMessage?.(data); return; }
    const call = frame.id != null ? this._calls.get(frame.id) : undefined;
    switch (frame.type) {
      case "identity":
        this.identity = frame; this._connected = true;
        for (const [payload, id] of this._unsent.splice(0)) { this._ws.send(payload); if (id) this._calls.get(id).sent = true; }
        break;
      case "state": this._setState(frame.state, frame.seq); break;
      case "state_patch":
        try {
          if (frame.seq !== (this.seq ?? 0) + 1) throw new Error("out of order");
          this._setState(applyPatch(this.state, frame.patch), frame.seq);
        } catch { this._ws.send(JSON.stringify({ type: "sync" })); }
        break;
      case "result": if (call) { this._calls.delete(frame.id); call.resolve(frame.value); } break;
      case "chunk": call?.onChunk?.(frame.value); break;
      case "end": if (call) { this._calls.delete(frame.id); call.resolve(undefined); } break;
      case "error":
        if (call) { this._calls.delete(frame.id); call.reject(new AgentError(frame.code, frame.message)); }
        else console.warn(`agent error ${frame.code}: ${frame.message}`);
        break;
      case "close": this.closeReason = frame; break;
    }
  }

  _setState(state, seq) {
    this.state = state; this.seq = seq;
    this._resolveReady(this);
    this.onState?.(state);
  }

  _send(payload, id) {
    if (this._connected && this._ws.readyState === WebSocket.OPEN) { this._ws.send(payload); return true; }
    this._unsent.push([payload, id]);
    return false;
  }

  /** Call a @callable method; resolves with its result, rejects with an AgentError. */
  call(method, ...args) { return this._start(method, args); }

  /** Call a streaming method; onChunk gets each item; resolves when it ends. */
  stream(method, args, onChunk) { return this._start(method, args, onChunk); }

  _start(method, args, onChunk) {
    const id = String(this._nextId++);
    return new Promise((resolve, reject) => {
      const call = { resolve, reject, onChunk, sent: false };
      this._calls.set(id, call);
      call.sent = this._send(JSON.stringify({ type: "rpc", id, method, args, kwargs: {} }), id);
    });
  }

  /** Send a message to the agent's on_message (objects as JSON). */
  send(message) {
    this._send(typeof message === "string" || message instanceof ArrayBuffer ? message : JSON.stringify(message));
  }

  setState(state) { this._send(JSON.stringify({ type: "set_state", state })); }

  close() { this._closed = true; this._ws.close(); }
}
