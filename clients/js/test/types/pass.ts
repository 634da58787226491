// Must type-check (`tsc --noEmit`) against agents.d.ts made by `ray-agents types examples.app:app`
// (tests/test_js_client.py writes it here first).
import { AgentClient, type StreamCall } from "ray-agents";
import { useAgent, useAgentChat } from "ray-agents/react";

import type { Agents } from "./agents";

declare const base: string;
const counter = new AgentClient<Agents["counter"], { count: number }>("counter", "alice", { base });
const chat = new AgentClient<Agents["chat"]>("chat", "c1", { base });
const room = new AgentClient<Agents["chat-room"]>("chat-room", "lobby", { base });

export async function calls(): Promise<void> {
  const a: number = await counter.stub.add(2);
  const b: number = await counter.stub.add(); // n has a default
  const c: number = await counter.call("add", 3);
  const d: number = await counter.stub.get();
  const e: number = await room.stub.say("ann", "hi");
  const call = counter.stub.add(1);
  call.cancel();
  const count: number | undefined = counter.state?.count;
  for await (const chunk of chat.stub.chat("hello")) {
    if (chunk.type === "text") {
      const delta: string = chunk.delta;
      void delta;
    }
    if (chunk.type === "done") {
      const status: "complete" | "awaiting_approval" | "max_steps" | "error" | "interrupted" = chunk.status;
      void status;
    }
  }
  const stream: StreamCall<unknown> = chat.stub.resume("s1", 3);
  await stream;
  void [a, b, c, d, e, count];
}

export function Hooks(): null {
  const { state, stub } = useAgent<Agents["counter"], { count: number }>("counter", "alice");
  const n: number | undefined = state?.count;
  void stub.add(1);
  const { messages, send, approve, reject, stop, status } = useAgentChat("chat", "c1");
  void [n, messages, send, approve, reject, stop, status];
  return null;
}
