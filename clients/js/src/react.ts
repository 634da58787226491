/** React hooks over `AgentClient` (`ray-agents/react`; react is a peer dependency).
 *
 *   const { state, stub, status } = useAgent<Agents["counter"], { count: number }>("counter", "alice");
 *   const chat = useAgentChat("chat", conversationId);   // messages, send, approve, reject, stop
 */
import { useEffect, useMemo, useState, useSyncExternalStore } from "react";

import { AgentClient, type AgentClientOptions, type Status, type Stub, type UntypedMethods } from "./client.js";
import { ChatSession, type ChatMethods, type ChatSnapshot } from "./chat.js";

export interface UseAgentResult<M, S> {
  /** The agent's live state (undefined until the first arrives). */
  state: S | undefined;
  status: Status;
  /** `stub.add(1)`: typed calls (await them; iterate streaming ones). */
  stub: Stub<M>;
  client: AgentClient<M, S>;
}

type HookOptions<S> = Omit<AgentClientOptions<S>, "onState" | "onStatus">;

/** One client per (type, id, options): a new one when they change, closed on unmount. */
function useClient<M, S>(type: string, id: string, options: HookOptions<S>): AgentClient<M, S> {
  const key = JSON.stringify([type, id, options.base, options.query, options.connId]);
  const client = useMemo(() => new AgentClient<M, S>(type, id, options), [key]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => () => client.close(), [client]);
  return client;
}

/** A live connection to agent `type`/`id`: its state, connection status and typed stub. */
export function useAgent<M = UntypedMethods, S = unknown>(type: string, id: string, options: HookOptions<S> = {}): UseAgentResult<M, S> {
  const client = useClient<M, S>(type, id, options);
  const state = useSyncExternalStore(
    (notify) => client.on("state", notify),
    () => client.state,
    () => undefined,
  );
  const status = useSyncExternalStore(
    (notify) => client.on("status", notify),
    () => client.status,
    () => "connecting" as const,
  );
  return { state, status, stub: client.stub, client };
}

export interface UseAgentChatResult extends ChatSnapshot {
  send(text: string): Promise<void>;
  approve(callId: string): Promise<void>;
  reject(callId: string, reason?: string): Promise<void>;
  stop(): void;
  client: AgentClient<ChatMethods & UntypedMethods, unknown>;
}

/** A chat with `ChatAgent` `type`/`id`: its messages (loaded, then streamed as parts), status,
 * and send / approve / reject / stop. A reply cut by a dropped socket resumes once it is back. */
export function useAgentChat(type: string, id: string, options: HookOptions<unknown> = {}): UseAgentChatResult {
  const client = useClient<ChatMethods & UntypedMethods, unknown>(type, id, options);
  const [session] = useState(() => new Map<typeof client, ChatSession>());
  let chat = session.get(client);
  if (!chat) {
    chat = new ChatSession(client);
    session.clear();
    session.set(client, chat);
  }
  const current = chat;
  useEffect(() => {
    current.load().catch(() => undefined); // a failed load shows in the snapshot's status
  }, [current]);
  const snapshot = useSyncExternalStore(
    (notify) => current.subscribe(notify),
    () => current.state,
    () => current.state,
  );
  return {
    ...snapshot,
    send: (text) => current.send(text),
    approve: (callId) => current.approve(callId),
    reject: (callId, reason) => current.reject(callId, reason),
    stop: () => current.stop(),
    client,
  };
}

export { AgentClient, ChatSession };
export type { ChatMessage, ChatPart, ChatSnapshot, ChatStatus, ToolState } from "./chat.js";
