/** A chat with a `ChatAgent` (agents/chat): its messages as parts (text, tool calls with their
 * results and approvals), streamed replies, resume after a dropped socket, stop. Framework-free:
 * `useAgentChat` (ray-agents/react) and the example page both render its snapshots. */
import type { AgentClient, UntypedMethods } from "./client.js";
import type { StreamCall } from "./call.js";
import { AgentError } from "./errors.js";

/** Why a stream ended (`Done.status` in agents/chat/chunks.py). */
export type DoneStatus = "complete" | "awaiting_approval" | "max_steps" | "error" | "interrupted";

/** What `ChatAgent.chat`, `resume`, `approve` and `reject` stream. */
export type ChatChunk = { stream_id: string; seq: number } & (
  | { type: "start" }
  | { type: "text"; delta: string }
  | { type: "tool_call"; call_id: string; name: string; arguments: string }
  | { type: "tool_result"; call_id: string; name: string; result: string; is_error: boolean }
  | { type: "approval_request"; call_id: string; name: string; arguments: string }
  | { type: "rewind"; to_seq: number }
  | { type: "done"; status: DoneStatus; error?: string | null }
);

/** The chat methods every `ChatAgent` has (what `useAgentChat` calls). */
export interface ChatMethods {
  chat(text: string): AsyncIterable<ChatChunk>;
  resume(stream_id: string, after_seq?: number): AsyncIterable<ChatChunk>;
  approve(call_id: string): AsyncIterable<ChatChunk>;
  reject(call_id: string, reason?: string): AsyncIterable<ChatChunk>;
  messages(): HistoryMessage[];
  pending_approvals(): { stream_id: string; call_id: string; name: string; arguments: string }[];
  clear_messages(): void;
}

/** One stored message (OpenAI format), as `ChatAgent.messages()` returns it. */
export interface HistoryMessage {
  role: "system" | "user" | "assistant" | "tool";
  content?: string | null;
  tool_calls?: { id: string; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

export type ToolState = "called" | "awaiting_approval" | "approved" | "rejected" | "result";
export type ChatPart =
  | { type: "text"; text: string }
  | { type: "tool"; callId: string; name: string; arguments: string; state: ToolState; result?: string; isError?: boolean }
  | { type: "done"; status: DoneStatus; error?: string | null };

export interface ChatMessage {
  id: string;
  role: "user" | "assistant";
  parts: ChatPart[];
}

/** loading (fetching history), ready, streaming, reconnecting (resumes once back), a stream's
 * done status, or an error code (`error` has the message). */
export type ChatStatus = "loading" | "ready" | "streaming" | "reconnecting" | DoneStatus | (string & {});

export interface ChatSnapshot {
  messages: ChatMessage[];
  status: ChatStatus;
  /** A stream is running (send is refused meanwhile). */
  busy: boolean;
  error: AgentError | null;
  /** Tool calls waiting for approve/reject. */
  pending: { callId: string; name: string; arguments: string }[];
}

let nextMessage = 0;
const messageId = (): string => `m${++nextMessage}`;

/** The parts chunks make, added to (a copy of) `base`. */
function partsOf(base: ChatPart[], chunks: ChatChunk[]): ChatPart[] {
  const parts = base.map((p) => ({ ...p }));
  const tool = (callId: string) => parts.find((p): p is Extract<ChatPart, { type: "tool" }> => p.type === "tool" && p.callId === callId);
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
        const result = { state: "result" as const, result: chunk.result, isError: chunk.is_error };
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

/** Stored messages as chat messages: an assistant's steps (text, tool calls, tool results) up
 * to the next user message are one message. */
export function fromHistory(history: HistoryMessage[], pending: { call_id: string }[] = []): ChatMessage[] {
  const messages: ChatMessage[] = [];
  const waiting = new Set(pending.map((p) => p.call_id));
  let assistant: ChatMessage | null = null;
  for (const m of history) {
    if (m.role === "user") {
      messages.push({ id: messageId(), role: "user", parts: [{ type: "text", text: m.content ?? "" }] });
      assistant = null;
      continue;
    }
    if (m.role === "system") continue;
    if (!assistant) messages.push((assistant = { id: messageId(), role: "assistant", parts: [] }));
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

type Listener = (snapshot: ChatSnapshot) => void;

/** The chat state of one `ChatAgent` over an `AgentClient`. */
export class ChatSession {
  private snapshot: ChatSnapshot = { messages: [], status: "loading", busy: false, error: null, pending: [] };
  private readonly listeners = new Set<Listener>();
  private current: StreamCall<ChatChunk> | null = null;
  private stopped = false;

  constructor(readonly client: AgentClient<ChatMethods & UntypedMethods, unknown>) {}

  get state(): ChatSnapshot {
    return this.snapshot;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Fetch the conversation so far (and the approvals it waits for). */
  async load(): Promise<void> {
    await this.client.ready;
    const [history, pending] = await Promise.all([this.client.stub.messages(), this.client.stub.pending_approvals()]);
    this.update({ messages: fromHistory(history, pending), status: "ready", pending: pending.map(toPending) });
  }

  /** Send a user message and stream the reply (refused while a stream runs). */
  send(text: string): Promise<void> {
    if (this.snapshot.busy || !text.trim()) return Promise.resolve();
    const user: ChatMessage = { id: messageId(), role: "user", parts: [{ type: "text", text }] };
    const reply: ChatMessage = { id: messageId(), role: "assistant", parts: [] };
    this.update({ messages: [...this.snapshot.messages, user, reply] });
    return this.run("chat", [text], reply.id);
  }

  /** Run the paused tool call and stream the rest of the turn. */
  approve(callId: string): Promise<void> {
    return this.decide(callId, "approved", "approve", [callId]);
  }

  /** Refuse the paused tool call (the model is told `reason`) and stream the rest of the turn. */
  reject(callId: string, reason = "the user rejected it"): Promise<void> {
    return this.decide(callId, "rejected", "reject", [callId, reason]);
  }

  /** Stop the running stream: it is cancelled in the agent too (its turn rolled back). */
  stop(): void {
    this.stopped = true;
    this.current?.cancel();
  }

  private decide(callId: string, state: ToolState, method: "approve" | "reject", args: [string, ...string[]]): Promise<void> {
    const target = this.snapshot.messages.findLast((m) => m.parts.some((p) => p.type === "tool" && p.callId === callId));
    if (!target || this.snapshot.busy) return Promise.resolve();
    const parts = target.parts.map((p) => (p.type === "tool" && p.callId === callId ? { ...p, state } : p));
    this.replace(target.id, parts);
    this.update({ pending: this.snapshot.pending.filter((p) => p.callId !== callId) });
    return this.run(method, args, target.id);
  }

  /** Stream `method` into message `messageId`; after a dropped socket, resume where it stopped. */
  private async run(method: "chat" | "approve" | "reject" | "resume", args: unknown[], messageId: string): Promise<void> {
    const base = this.snapshot.messages.find((m) => m.id === messageId)?.parts ?? [];
    let chunks: ChatChunk[] = [];
    let streamId: string | null = null;
    let lastSeq = 0;
    this.stopped = false;
    this.update({ busy: true, status: "streaming", error: null });
    const take = (chunk: ChatChunk) => {
      if (chunk.seq <= lastSeq) return; // already shown: a resumed stream repeats nothing
      streamId = chunk.stream_id;
      lastSeq = chunk.seq;
      if (chunk.type === "rewind") chunks = chunks.filter((c) => c.seq <= chunk.to_seq);
      else chunks.push(chunk);
      this.replace(messageId, partsOf(base, chunks));
      if (chunk.type === "approval_request") {
        this.update({ pending: [...this.snapshot.pending, { callId: chunk.call_id, name: chunk.name, arguments: chunk.arguments }] });
      }
      if (chunk.type === "done") this.update({ status: chunk.status });
    };
    try {
      for (;;) {
        try {
          this.current = this.client.stream(method, args as never, take as never) as unknown as StreamCall<ChatChunk>;
          await this.current;
          break;
        } catch (err) {
          if (!(err instanceof AgentError) || err.code !== "connection_lost" || !streamId || this.stopped) throw err;
          this.update({ status: "reconnecting" });
          [method, args] = ["resume", [streamId, lastSeq]]; // sent once the socket is back
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

  private replace(id: string, parts: ChatPart[]): void {
    this.update({ messages: this.snapshot.messages.map((m) => (m.id === id ? { ...m, parts } : m)) });
  }

  private update(change: Partial<ChatSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...change };
    for (const listener of this.listeners) listener(this.snapshot);
  }
}

function toPending(p: { call_id: string; name: string; arguments: string }) {
  return { callId: p.call_id, name: p.name, arguments: p.arguments };
}
