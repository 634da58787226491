/** The ray-agents wire protocol, version 2 (docs/protocol.md): the frames and their fields. */

export const PROTOCOL = 2;
/** Acknowledge what was read at least this often (frames, or characters and bytes): the server
 * closes (1013) a socket whose client leaves too much unread, and the client reconnects. */
export const ACK_EVERY_FRAMES = 16;
export const ACK_EVERY_BYTES = 64 * 1024;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface PatchOp {
  op: "add" | "remove" | "replace";
  path: string;
  value?: unknown;
}

export type ClientFrame =
  | { type: "hello"; protocol: number }
  | { type: "ack"; frames: number }
  | { type: "rpc"; id: string; method: string; args: unknown[]; kwargs: Record<string, unknown> }
  | { type: "cancel"; id: string }
  | { type: "set_state"; state: unknown }
  | { type: "sync" };

export interface IdentityFrame {
  type: "identity";
  protocol: number;
  agent: string;
  id: string;
  connection: string;
  readonly: boolean;
  resume: string;
}

export type ServerFrame =
  | IdentityFrame
  | { type: "state"; state: unknown; seq: number }
  | { type: "state_patch"; patch: PatchOp[]; seq: number }
  | { type: "result"; id: string; value: unknown }
  | { type: "chunk"; id: string; value: unknown }
  | { type: "end"; id: string }
  | { type: "error"; id: string | null; code: string; message: string }
  | { type: "close"; code: number; reason: string };

const SERVER_TYPES = new Set(["identity", "state", "state_patch", "result", "chunk", "end", "error", "close"]);

/** The protocol frame a text frame carries, or null for a user message (anything else). */
export function parseServerFrame(data: unknown): ServerFrame | null {
  if (typeof data !== "string" || !data.startsWith("{")) return null;
  let frame: unknown;
  try {
    frame = JSON.parse(data);
  } catch {
    return null;
  }
  const type = (frame as { type?: unknown } | null)?.type;
  return typeof type === "string" && SERVER_TYPES.has(type) ? (frame as ServerFrame) : null;
}

/** Close codes after which a client does not reconnect: refusals (44xx), except 4410
 * (unknown connection: reconnect). */
export function isRefusal(code: number): boolean {
  return code >= 4400 && code < 4500 && code !== 4410;
}
