// No server: JSON Patch on the protocol fixtures, and ChatSession's parts from scripted chunks.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { AgentError, applyPatch, ChatSession, fromHistory, PROTOCOL } from "../dist/index.js";

const fixture = (name) => JSON.parse(readFileSync(new URL(`../../../tests/fixtures/protocol/${name}.json`, import.meta.url)));

test("the golden state and state_patch fixtures", () => {
  const state = fixture("server_state");
  const patch = fixture("server_state_patch");
  assert.equal(patch.seq, state.seq + 1);
  assert.deepEqual(applyPatch(state.state, patch.patch), { count: 4, log: ["a", "b"] });
  assert.deepEqual(state.state, { count: 3, log: ["a"] }); // left as it was
  assert.equal(fixture("client_hello").protocol, PROTOCOL);
});

test("patches: escaped paths, array insert and remove, null values, a bad path throws", () => {
  const doc = { "a/b": { "~x": 1 }, list: [1, 2, 3], v: 1 };
  const ops = [
    { op: "replace", path: "/a~1b/~0x", value: 2 },
    { op: "add", path: "/list/1", value: 9 },
    { op: "remove", path: "/list/0" },
    { op: "replace", path: "/v", value: null },
  ];
  assert.deepEqual(applyPatch(doc, ops), { "a/b": { "~x": 2 }, list: [9, 2, 3], v: null });
  assert.throws(() => applyPatch(doc, [{ op: "replace", path: "/missing/x", value: 1 }]));
  assert.throws(() => applyPatch(doc, [{ op: "remove", path: "/nope" }]));
});

/** A client whose streams replay scripted chunks (and whose first run drops mid-way). */
function scriptedClient(script) {
  const calls = [];
  const client = {
    ready: Promise.resolve(),
    stub: { messages: async () => [], pending_approvals: async () => [] },
    stream(method, args, onChunk) {
      calls.push([method, args]);
      const { chunks, drop } = script.shift();
      const run = (async () => {
        for (const c of chunks) onChunk(c);
        if (drop) throw new AgentError("connection_lost", "dropped");
      })();
      return Object.assign(run, { cancel() {} });
    },
  };
  return { client, calls };
}

test("ChatSession: streamed parts, resume after a drop without repeats, a rewind, approvals", async () => {
  const s = "s1";
  const { client, calls } = scriptedClient([
    {
      chunks: [
        { stream_id: s, seq: 1, type: "start" },
        { stream_id: s, seq: 2, type: "text", delta: "Hel" },
      ],
      drop: true,
    },
    {
      chunks: [
        { stream_id: s, seq: 2, type: "text", delta: "Hel" }, // seen already
        { stream_id: s, seq: 3, type: "text", delta: "XX" },
        { stream_id: s, seq: 64, type: "rewind", to_seq: 2 }, // the turn died and is redone
        { stream_id: s, seq: 65, type: "text", delta: "lo" },
        { stream_id: s, seq: 66, type: "tool_call", call_id: "c1", name: "send_email", arguments: "{}" },
        { stream_id: s, seq: 67, type: "approval_request", call_id: "c1", name: "send_email", arguments: "{}" },
        { stream_id: s, seq: 68, type: "done", status: "awaiting_approval" },
      ],
    },
    {
      chunks: [
        { stream_id: s, seq: 69, type: "tool_result", call_id: "c1", name: "send_email", result: "sent", is_error: false },
        { stream_id: s, seq: 70, type: "text", delta: "Done." },
        { stream_id: s, seq: 71, type: "done", status: "complete" },
      ],
    },
  ]);
  // Not a real AgentClient: ChatSession uses only its ready, stub and stream.
  const chat = new ChatSession(client);
  await chat.load();
  assert.equal(chat.state.status, "ready");
  await chat.send("hi");
  assert.deepEqual(calls[1], ["resume", [s, 2]]);
  const reply = chat.state.messages.at(-1);
  assert.deepEqual(reply.parts, [
    { type: "text", text: "Hello" },
    { type: "tool", callId: "c1", name: "send_email", arguments: "{}", state: "awaiting_approval" },
  ]);
  assert.equal(chat.state.status, "awaiting_approval");
  assert.deepEqual(chat.state.pending, [{ callId: "c1", name: "send_email", arguments: "{}" }]);
  await chat.approve("c1");
  assert.deepEqual(calls[2], ["approve", ["c1"]]);
  const parts = chat.state.messages.at(-1).parts;
  assert.equal(parts[1].state, "result");
  assert.equal(parts[1].result, "sent");
  assert.deepEqual(parts[2], { type: "text", text: "Done." });
  assert.equal(chat.state.status, "complete");
  assert.deepEqual(chat.state.pending, []);
});

test("history: an assistant's steps up to the next user message are one message", () => {
  const messages = fromHistory(
    [
      { role: "user", content: "email Bob" },
      { role: "assistant", content: "Sure.", tool_calls: [{ id: "c1", function: { name: "send_email", arguments: "{}" } }] },
      { role: "tool", tool_call_id: "c1", content: "sent" },
      { role: "assistant", content: "Done." },
    ],
    [],
  );
  assert.equal(messages.length, 2);
  assert.deepEqual(
    messages[1].parts.map((p) => p.type === "text" ? p.text : `${p.name}:${p.state}:${p.result}`),
    ["Sure.", "send_email:result:sent", "Done."],
  );
});
