/** ray-agents web client. See docs/protocol.md and the README's "Web clients".
 *
 *   import { AgentClient } from "ray-agents";          // or "/static/agents.js" from the ingress
 *   const counter = new AgentClient<Agents["counter"], { count: number }>("counter", "alice", {
 *     onState: (s) => render(s),
 *   });
 *   await counter.ready;
 *   await counter.stub.add(1);
 */
export { AgentClient } from "./client.js";
export type { AgentClientOptions, CallOf, MethodName, Status, Stub, UntypedMethods, UserMessage } from "./client.js";
export type { Call, StreamCall } from "./call.js";
export { AgentError } from "./errors.js";
export { applyPatch } from "./patch.js";
export { ACK_EVERY_BYTES, ACK_EVERY_FRAMES, PROTOCOL } from "./protocol.js";
export type { ClientFrame, IdentityFrame, PatchOp, ServerFrame } from "./protocol.js";
export * from "./chat.js";
