// Every line marked `// error` must fail `tsc --noEmit` (and no other line):
// tests/test_js_client.py checks the lines tsc reports.
import { AgentClient } from "ray-agents";

import type { Agents } from "./agents";

declare const base: string;
const counter = new AgentClient<Agents["counter"], { count: number }>("counter", "alice", { base });
const chat = new AgentClient<Agents["chat"]>("chat", "c1", { base });
const room = new AgentClient<Agents["chat-room"]>("chat-room", "lobby", { base });

export async function wrong(): Promise<void> {
  counter.stub.add("x"); // error
  counter.stub.nope(); // error
  counter.call("add", "x"); // error
  counter.call("subtract", 1); // error
  const text: string = await counter.stub.add(1); // error
  room.stub.say("ann"); // error
  chat.stub.chat(1); // error
  for await (const chunk of chat.stub.chat("hi")) chunk.delta; // error
  const s: string | undefined = counter.state?.count; // error
  void [text, s];
}
