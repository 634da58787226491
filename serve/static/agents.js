// ray-agents browser client, built from clients/js (cd clients/js && npm run build): do not edit.
// import { AgentClient } from "/static/agents.js"; see docs/protocol.md and the README's "Web clients".

// src/errors.ts
var AgentError = class extends Error {
  code;
  constructor(code, message) {
    super(message);
    this.name = "AgentError";
    this.code = code;
  }
};

// src/call.ts
var PendingCall = class {
  constructor(id, cancelCall, onChunk) {
    this.cancelCall = cancelCall;
    this.id = id;
    this.onChunk = onChunk;
    if (onChunk) this.keep = false;
    this.promise = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.promise.catch(() => void 0);
  }
  cancelCall;
  id;
  /** Sent on the socket it was made on (a drop rejects it); else it waits for the next one. */
  sent = false;
  promise;
  settle;
  items = [];
  waiters = [];
  finished = null;
  onChunk;
  /** Items are kept for an iterator unless the call is only awaited (or has `onChunk`). */
  keep = true;
  chunk(item) {
    this.onChunk?.(item);
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve({ value: item, done: false });
    else if (this.keep) this.items.push(item);
  }
  resolve(value) {
    this.finish({});
    this.settle.resolve(value);
  }
  reject(error) {
    this.finish({ error });
    this.settle.reject(error);
  }
  finish(how) {
    this.finished = how;
    for (const waiter of this.waiters.splice(0)) {
      if ("error" in how) waiter.reject(how.error);
      else waiter.resolve({ value: void 0, done: true });
    }
  }
  cancel() {
    if (!this.finished) this.cancelCall(this.id);
  }
  then(onfulfilled, onrejected) {
    if (this.items.length === 0 && this.waiters.length === 0) this.keep = false;
    return this.promise.then(onfulfilled, onrejected);
  }
  catch(onrejected) {
    return this.then(void 0, onrejected);
  }
  finally(onfinally) {
    return Promise.resolve(this).finally(onfinally);
  }
  [Symbol.asyncIterator]() {
    this.keep = true;
    return {
      next: () => {
        if (this.items.length > 0) return Promise.resolve({ value: this.items.shift(), done: false });
        if (this.finished) {
          return "error" in this.finished ? Promise.reject(this.finished.error) : Promise.resolve({ value: void 0, done: true });
        }
        return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
      },
      return: () => {
        this.cancel();
        this.keep = false;
        this.items.length = 0;
        return Promise.resolve({ value: void 0, done: true });
      }
    };
  }
};
function lost() {
  return new AgentError("connection_lost", "connection dropped");
}

// src/patch.ts
function unescape(token) {
  return token.replace(/~1/g, "/").replace(/~0/g, "~");
}
function applyPatch(doc, ops) {
  let root = structuredClone(doc);
  for (const { op, path, value } of ops) {
    if (path === "") {
      if (op === "remove") throw new Error("cannot remove the whole document");
      root = structuredClone(value);
      continue;
    }
    const tokens = path.slice(1).split("/").map(unescape);
    const last = tokens.pop();
    let target = root;
    for (const token of tokens) {
      target = Array.isArray(target) ? target[Number(token)] : target?.[token];
      if (target === void 0 || target === null || typeof target !== "object") {
        throw new Error(`patch path ${path} does not exist`);
      }
    }
    if (typeof target !== "object" || target === null) throw new Error(`patch path ${path} does not exist`);
    const container = target;
    if (Array.isArray(container)) {
      const index = last === "-" ? container.length : Number(last);
      if (!Number.isInteger(index) || index < 0 || index > container.length) {
        throw new Error(`patch path ${path} does not exist`);
      }
      if (op === "add") container.splice(index, 0, value);
      else if (index >= container.length) throw new Error(`patch path ${path} does not exist`);
      else if (op === "remove") container.splice(index, 1);
      else container[index] = value;
    } else if (op === "remove" || op === "replace") {
      if (!(last in container)) throw new Error(`patch path ${path} does not exist`);
      if (op === "remove") delete container[last];
      else container[last] = value;
    } else {
      container[last] = value;
    }
  }
  return root;
}

// src/protocol.ts
var PROTOCOL = 2;
var ACK_EVERY_FRAMES = 16;
var ACK_EVERY_BYTES = 64 * 1024;
var SERVER_TYPES = /* @__PURE__ */ new Set(["identity", "state", "state_patch", "result", "chunk", "end", "error", "close"]);
function parseServerFrame(data) {
  if (typeof data !== "string" || !data.startsWith("{")) return null;
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    return null;
  }
  const type = frame?.type;
  return typeof type === "string" && SERVER_TYPES.has(type) ? frame : null;
}
function isRefusal(code) {
  return code >= 4400 && code < 4500 && code !== 4410;
}

// src/client.ts
var AgentClient = class {
  agent;
  id;
  connId;
  url;
  /** The last state the server sent (undefined until the first). */
  state = void 0;
  /** The state's version within the agent's activation (`seq` of docs/protocol.md). */
  seq = null;
  identity = null;
  /** The server's last `close` frame (code and reason), if any. */
  closeReason = null;
  status = "connecting";
  /** Resolves with the client once the first state arrived. */
  ready;
  /** `client.stub.add(1)`: the agent's methods, typed by `M`. */
  stub;
  /** @internal the socket (tests drop it to simulate a network failure). */
  _ws;
  /** @internal identity received on the current socket: frames may be sent. */
  _connected = false;
  options;
  calls = /* @__PURE__ */ new Map();
  unsent = [];
  listeners = { state: /* @__PURE__ */ new Set(), status: /* @__PURE__ */ new Set(), message: /* @__PURE__ */ new Set() };
  nextId = 1;
  closed = false;
  attempt = 0;
  timer;
  resolveReady;
  constructor(agent, id, options = {}) {
    this.agent = agent;
    this.id = id;
    this.options = options;
    this.connId = options.connId ?? globalThis.crypto.randomUUID().replaceAll("-", "");
    const base = options.base ?? globalThis.location?.origin;
    if (!base) throw new Error("AgentClient: pass options.base (no page origin to default to)");
    const params = new URLSearchParams({ ...options.query, conn: this.connId });
    this.url = `${base.replace(/^http/, "ws").replace(/\/$/, "")}/agents/${encodeURIComponent(agent)}/${encodeURIComponent(id)}?${params}`;
    this.ready = new Promise((resolve) => {
      this.resolveReady = resolve;
    });
    this.ready.catch(() => void 0);
    this.stub = new Proxy({}, {
      get: (_, name) => typeof name !== "string" || name === "then" ? void 0 : (...args) => this.start(name, args)
    });
    this.open();
  }
  /** Whether the socket is open and the agent accepted it. */
  get connected() {
    return this._connected;
  }
  /** Call a `@callable` method: `await client.call("add", 1)`. */
  call(method, ...args) {
    return this.start(method, args);
  }
  /** Call a streaming method: iterate its items, or pass `onChunk` and await its end. */
  stream(method, args, onChunk) {
    return this.start(method, args, onChunk);
  }
  /** Cancel a call by its id (what `call.cancel()` does). */
  cancel(id) {
    const call = this.calls.get(id);
    if (!call) return;
    if (!call.sent) {
      const index = this.unsent.findIndex((u) => u.id === id);
      if (index >= 0) this.unsent.splice(index, 1);
      this.calls.delete(id);
      call.reject(new AgentError("cancelled", "cancelled before it was sent"));
      return;
    }
    this.sendFrame({ type: "cancel", id });
  }
  /** Send a message to the agent's `on_message` (objects as JSON). */
  send(message) {
    this.enqueue(typeof message === "string" || message instanceof ArrayBuffer ? message : JSON.stringify(message));
  }
  /** Replace the agent's state (it must set `accept_client_state`). */
  setState(state) {
    this.sendFrame({ type: "set_state", state });
  }
  on(event, listener) {
    const set = this.listeners[event];
    set.add(listener);
    return () => set.delete(listener);
  }
  /** Close for good: no reconnect; calls in flight fail with `closed`. */
  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this._ws.close();
    for (const [id, call] of this.calls) {
      this.calls.delete(id);
      call.reject(new AgentError("closed", "the client was closed"));
    }
    this.unsent.length = 0;
    this.setStatus("closed");
  }
  open() {
    const resume = this.identity?.resume ? `&resume=${encodeURIComponent(this.identity.resume)}` : "";
    const Socket = this.options.WebSocket ?? globalThis.WebSocket;
    const ws = new Socket(this.url + resume);
    this._ws = ws;
    ws.binaryType = "arraybuffer";
    let read = 0;
    let acked = 0;
    let unackedSize = 0;
    ws.onopen = () => {
      this.attempt = 0;
      ws.send(JSON.stringify({ type: "hello", protocol: PROTOCOL }));
    };
    ws.onmessage = (event) => {
      read += 1;
      unackedSize += typeof event.data === "string" ? event.data.length : event.data.byteLength;
      if (read - acked >= ACK_EVERY_FRAMES || unackedSize >= ACK_EVERY_BYTES) {
        ws.send(JSON.stringify({ type: "ack", frames: read }));
        acked = read;
        unackedSize = 0;
      }
      this.receive(event.data);
    };
    ws.onclose = (event) => {
      if (ws !== this._ws) return;
      for (const [id, call] of this.calls) {
        if (call.sent) {
          this.calls.delete(id);
          call.reject(lost());
        }
      }
      this._connected = false;
      if (this.closed) return;
      if (this.options.reconnect === false || isRefusal(event.code)) {
        this.closed = true;
        for (const [id, call] of this.calls) {
          this.calls.delete(id);
          call.reject(new AgentError("closed", `connection refused: ${event.code} ${event.reason}`));
        }
        this.setStatus("closed");
        return;
      }
      this.setStatus("reconnecting");
      const { minDelayMs = 50, maxDelayMs = 5e3 } = this.options.reconnect || {};
      const delay = Math.min(maxDelayMs, minDelayMs * 2 ** this.attempt++) * (0.5 + Math.random());
      this.timer = setTimeout(() => this.open(), delay);
    };
  }
  receive(data) {
    const frame = parseServerFrame(data);
    if (!frame) {
      this.options.onMessage?.(data);
      for (const listener of this.listeners.message) listener(data);
      return;
    }
    this.handle(frame);
  }
  handle(frame) {
    switch (frame.type) {
      case "identity":
        this.identity = frame;
        this._connected = true;
        for (const { payload, id } of this.unsent.splice(0)) {
          this._ws.send(payload);
          const call2 = id === void 0 ? void 0 : this.calls.get(id);
          if (call2) call2.sent = true;
        }
        this.setStatus("open");
        return;
      case "state":
        this.setState_(frame.state, frame.seq);
        return;
      case "state_patch":
        try {
          if (frame.seq !== (this.seq ?? 0) + 1) throw new Error("out of order");
          this.setState_(applyPatch(this.state, frame.patch), frame.seq);
        } catch {
          this.sendFrame({ type: "sync" });
        }
        return;
      case "close":
        this.closeReason = { code: frame.code, reason: frame.reason };
        return;
    }
    const call = frame.id != null ? this.calls.get(frame.id) : void 0;
    switch (frame.type) {
      case "result":
        if (call) {
          this.calls.delete(frame.id);
          call.resolve(frame.value);
        }
        return;
      case "chunk":
        call?.chunk(frame.value);
        return;
      case "end":
        if (call) {
          this.calls.delete(frame.id);
          call.resolve(void 0);
        }
        return;
      case "error":
        if (call && frame.id != null) {
          this.calls.delete(frame.id);
          call.reject(new AgentError(frame.code, frame.message));
        } else console.warn(`agent error ${frame.code}: ${frame.message}`);
        return;
    }
  }
  setState_(state, seq) {
    this.state = state;
    this.seq = seq;
    this.resolveReady(this);
    this.options.onState?.(state);
    for (const listener of this.listeners.state) listener(state);
  }
  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.options.onStatus?.(status);
    for (const listener of this.listeners.status) listener(status);
  }
  sendFrame(frame, id) {
    return this.enqueue(JSON.stringify(frame), id);
  }
  /** Send now when connected, else when the next socket is accepted. */
  enqueue(payload, id) {
    if (this._connected && this._ws.readyState === 1) {
      this._ws.send(payload);
      return true;
    }
    this.unsent.push({ payload, id });
    return false;
  }
  start(method, args, onChunk) {
    if (this.closed) {
      const call2 = new PendingCall("0", () => void 0);
      call2.reject(new AgentError("closed", "the client was closed"));
      return call2;
    }
    const id = String(this.nextId++);
    const call = new PendingCall(id, (callId) => this.cancel(callId), onChunk);
    this.calls.set(id, call);
    call.sent = this.sendFrame({ type: "rpc", id, method, args, kwargs: {} }, id);
    return call;
  }
};

// src/chat.ts
var nextMessage = 0;
var messageId = () => `m${++nextMessage}`;
function partsOf(base, chunks) {
  const parts = base.map((p) => ({ ...p }));
  const tool = (callId) => parts.find((p) => p.type === "tool" && p.callId === callId);
  for (const chunk of chunks) {
    const last = parts.at(-1);
    switch (chunk.type) {
      case "text":
        if (last?.type === "text") last.text += chunk.delta;
        else parts.push({ type: "text", text: chunk.delta });
        break;
      case "tool_call":
        if (!tool(chunk.call_id)) parts.push({ type: "tool", callId: chunk.call_id, name: chunk.name, arguments: chunk.arguments, state: "called" });
        break;
      case "approval_request": {
        const found = tool(chunk.call_id);
        if (found) found.state = "awaiting_approval";
        else parts.push({ type: "tool", callId: chunk.call_id, name: chunk.name, arguments: chunk.arguments, state: "awaiting_approval" });
        break;
      }
      case "tool_result": {
        const found = tool(chunk.call_id);
        const result = { state: "result", result: chunk.result, isError: chunk.is_error };
        if (found) Object.assign(found, result);
        else parts.push({ type: "tool", callId: chunk.call_id, name: chunk.name, arguments: "", ...result });
        break;
      }
      case "done":
        if (chunk.status !== "awaiting_approval") parts.push({ type: "done", status: chunk.status, error: chunk.error });
        break;
    }
  }
  return parts;
}
function fromHistory(history, pending = []) {
  const messages = [];
  const waiting = new Set(pending.map((p) => p.call_id));
  let assistant = null;
  for (const m of history) {
    if (m.role === "user") {
      messages.push({ id: messageId(), role: "user", parts: [{ type: "text", text: m.content ?? "" }] });
      assistant = null;
      continue;
    }
    if (m.role === "system") continue;
    if (!assistant) messages.push(assistant = { id: messageId(), role: "assistant", parts: [] });
    if (m.role === "assistant") {
      if (m.content) assistant.parts.push({ type: "text", text: m.content });
      for (const c of m.tool_calls ?? []) {
        const state = waiting.has(c.id) ? "awaiting_approval" : "called";
        assistant.parts.push({ type: "tool", callId: c.id, name: c.function.name, arguments: c.function.arguments, state });
      }
    } else {
      const part = assistant.parts.find((p) => p.type === "tool" && p.callId === m.tool_call_id);
      if (part?.type === "tool") Object.assign(part, { state: "result", result: m.content ?? "" });
      else assistant.parts.push({ type: "tool", callId: m.tool_call_id ?? "", name: "", arguments: "", state: "result", result: m.content ?? "" });
    }
  }
  return messages;
}
var ChatSession = class {
  constructor(client) {
    this.client = client;
  }
  client;
  snapshot = { messages: [], status: "loading", busy: false, error: null, pending: [] };
  listeners = /* @__PURE__ */ new Set();
  current = null;
  stopped = false;
  get state() {
    return this.snapshot;
  }
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  /** Fetch the conversation so far (and the approvals it waits for). */
  async load() {
    await this.client.ready;
    const [history, pending] = await Promise.all([this.client.stub.messages(), this.client.stub.pending_approvals()]);
    this.update({ messages: fromHistory(history, pending), status: "ready", pending: pending.map(toPending) });
  }
  /** Send a user message and stream the reply (refused while a stream runs). */
  send(text) {
    if (this.snapshot.busy || !text.trim()) return Promise.resolve();
    const user = { id: messageId(), role: "user", parts: [{ type: "text", text }] };
    const reply = { id: messageId(), role: "assistant", parts: [] };
    this.update({ messages: [...this.snapshot.messages, user, reply] });
    return this.run("chat", [text], reply.id);
  }
  /** Run the paused tool call and stream the rest of the turn. */
  approve(callId) {
    return this.decide(callId, "approved", "approve", [callId]);
  }
  /** Refuse the paused tool call (the model is told `reason`) and stream the rest of the turn. */
  reject(callId, reason = "the user rejected it") {
    return this.decide(callId, "rejected", "reject", [callId, reason]);
  }
  /** Stop the running stream: it is cancelled in the agent too (its turn rolled back). */
  stop() {
    this.stopped = true;
    this.current?.cancel();
  }
  decide(callId, state, method, args) {
    const target = this.snapshot.messages.findLast((m) => m.parts.some((p) => p.type === "tool" && p.callId === callId));
    if (!target || this.snapshot.busy) return Promise.resolve();
    const parts = target.parts.map((p) => p.type === "tool" && p.callId === callId ? { ...p, state } : p);
    this.replace(target.id, parts);
    this.update({ pending: this.snapshot.pending.filter((p) => p.callId !== callId) });
    return this.run(method, args, target.id);
  }
  /** Stream `method` into message `messageId`; after a dropped socket, resume where it stopped. */
  async run(method, args, messageId2) {
    const base = this.snapshot.messages.find((m) => m.id === messageId2)?.parts ?? [];
    let chunks = [];
    let streamId = null;
    let lastSeq = 0;
    this.stopped = false;
    this.update({ busy: true, status: "streaming", error: null });
    const take = (chunk) => {
      if (chunk.seq <= lastSeq) return;
      streamId = chunk.stream_id;
      lastSeq = chunk.seq;
      if (chunk.type === "rewind") chunks = chunks.filter((c) => c.seq <= chunk.to_seq);
      else chunks.push(chunk);
      this.replace(messageId2, partsOf(base, chunks));
      if (chunk.type === "approval_request") {
        this.update({ pending: [...this.snapshot.pending, { callId: chunk.call_id, name: chunk.name, arguments: chunk.arguments }] });
      }
      if (chunk.type === "done") this.update({ status: chunk.status });
    };
    try {
      for (; ; ) {
        try {
          this.current = this.client.stream(method, args, take);
          await this.current;
          break;
        } catch (err) {
          if (!(err instanceof AgentError) || err.code !== "connection_lost" || !streamId || this.stopped) throw err;
          this.update({ status: "reconnecting" });
          [method, args] = ["resume", [streamId, lastSeq]];
        }
      }
    } catch (err) {
      const error = err instanceof AgentError ? err : new AgentError("exception", String(err));
      this.update({ status: error.code === "cancelled" ? "stopped" : error.code, error: error.code === "cancelled" ? null : error });
    } finally {
      this.current = null;
      this.update({ busy: false });
    }
  }
  replace(id, parts) {
    this.update({ messages: this.snapshot.messages.map((m) => m.id === id ? { ...m, parts } : m) });
  }
  update(change) {
    this.snapshot = { ...this.snapshot, ...change };
    for (const listener of this.listeners) listener(this.snapshot);
  }
};
function toPending(p) {
  return { callId: p.call_id, name: p.name, arguments: p.arguments };
}
export {
  ACK_EVERY_BYTES,
  ACK_EVERY_FRAMES,
  AgentClient,
  AgentError,
  ChatSession,
  PROTOCOL,
  applyPatch,
  fromHistory
};
