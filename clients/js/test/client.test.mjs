// AgentClient against a real Serve app: tests/test_js_client.py starts it and sets
// RAY_AGENTS_URL (the ingress) and RAY_AGENTS_ID (a fresh agent ID prefix). Agents: tests/agents_for_serve.py.
import assert from "node:assert/strict";
import { after, test } from "node:test";

import { AgentClient, AgentError } from "../dist/index.js";

const base = process.env.RAY_AGENTS_URL;
const prefix = process.env.RAY_AGENTS_ID ?? `js-${Date.now()}`;
if (!base) throw new Error("RAY_AGENTS_URL is not set: run through tests/test_js_client.py");
let n = 0;
const fresh = () => `${prefix}-${++n}`;
const open = [];
const connect = (agent, id, options = {}) => {
  const client = new AgentClient(agent, id, { base, ...options });
  open.push(client);
  return client;
};
after(() => open.forEach((c) => c.close()));

/** Resolves once `predicate()` holds (polled), or fails after `ms`. */
async function until(predicate, what, ms = 15000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("identity, then the state, then patches as the agent changes it", async () => {
  const id = fresh();
  const states = [];
  const client = connect("tally", id, { onState: (s) => states.push(s) });
  await client.ready;
  assert.equal(client.identity.protocol, 2);
  assert.equal(client.identity.agent, "tally");
  assert.equal(client.identity.id, id);
  assert.equal(client.identity.connection, client.connId);
  assert.deepEqual(client.state, { count: 0, log: [] });
  const seq = client.seq;
  assert.equal(await client.call("add", 2), 2);
  assert.equal(await client.stub.append("a"), 1);
  await until(() => client.state.log.length === 1, "the patches");
  assert.deepEqual(client.state, { count: 2, log: ["a"] });
  assert.equal(client.seq, seq + 2);
  assert.deepEqual(states.at(-1), client.state);
});

test("two clients of one agent see each other's changes", async () => {
  const id = fresh();
  const [a, b] = [connect("tally", id), connect("tally", id)];
  await Promise.all([a.ready, b.ready]);
  await a.stub.add(5);
  await b.stub.append("from b");
  const both = (s) => s.count === 5 && s.log.length === 1;
  await until(() => both(a.state) && both(b.state), "both changes on both");
  assert.deepEqual(a.state, b.state);
  assert.equal(a.status, "open");
});

test("a gap in seq asks for the full state again", async () => {
  const client = connect("tally", fresh());
  await client.ready;
  client.seq -= 3; // as if three patches were missed
  await client.stub.add(7);
  await until(() => client.state.count === 7, "the resync");
  await client.stub.add(1); // patches apply again after the full state
  await until(() => client.state.count === 8, "the next patch");
});

test("calls: results, errors with their codes, user messages, set_state", async () => {
  const messages = [];
  const client = connect("tally", fresh(), { onMessage: (m) => messages.push(m) });
  await client.ready;
  assert.deepEqual(await client.stub.get(), { count: 0, log: [] });
  await assert.rejects(client.stub.nope(), (e) => e instanceof AgentError && e.code === "unknown_method");
  await assert.rejects(client.call("add", "x"), (e) => e.code === "invalid_arguments");
  await assert.rejects(client.stub.fail(), (e) => e.code === "exception");
  await until(() => messages.length > 0, "the welcome message");
  assert.deepEqual(JSON.parse(messages[0]), { welcome: client.connId });
  client.setState({ count: 40, log: ["set"] });
  await until(async () => true, "");
  assert.deepEqual(await client.stub.get(), { count: 40, log: ["set"] });
});

test("streams: async iteration, onChunk, and cancel", async () => {
  const client = connect("tally", fresh());
  await client.ready;
  const items = [];
  for await (const i of client.stub.ticks(3)) items.push(i);
  assert.deepEqual(items, [0, 1, 2]);
  const seen = [];
  await client.stream("ticks", [2], (i) => seen.push(i));
  assert.deepEqual(seen, [0, 1]);
  const slow = client.stub.ticks(1000, 0.05);
  const got = [];
  await assert.rejects(
    (async () => {
      for await (const i of slow) {
        got.push(i);
        if (got.length === 2) slow.cancel();
      }
    })(),
    (e) => e.code === "cancelled",
  );
  const count = (await client.stub.get()).count;
  assert.ok(count < 1000 + 5, `the cancelled stream stopped (count ${count})`);
});

test("a dropped socket: reconnects with the same connection, queued calls go out then", async () => {
  const statuses = [];
  const client = connect("tally", fresh(), { onStatus: (s) => statuses.push(s) });
  await client.ready;
  const first = client.identity;
  client._ws.close(); // the network drops
  await until(() => client.status === "reconnecting", "the drop");
  const queued = client.stub.add(3); // made while disconnected: sent once the agent takes the socket back
  assert.equal(await queued, 3);
  await until(() => client.state.count === 3, "the state after the reconnect");
  assert.equal(client.identity.connection, first.connection);
  assert.deepEqual(statuses, ["open", "reconnecting", "open"]);
});

test("a call in flight when the socket drops fails with connection_lost", async () => {
  const client = connect("tally", fresh());
  await client.ready;
  const slow = client.stub.ticks(50, 0.05);
  const dropped = assert.rejects(slow, (e) => e.code === "connection_lost");
  await new Promise((r) => setTimeout(r, 100));
  client._ws.close();
  await dropped;
});

test("acknowledgements keep a socket open through more pushes than the unacked limit", async () => {
  const id = fresh();
  let shouted = 0;
  const client = connect("tally", id, { onMessage: (m) => typeof m === "string" && m.length === 60000 && shouted++ });
  await client.ready;
  const first = client.identity;
  const other = connect("tally", id);
  for (let batch = 1; batch <= 9; batch++) {
    await other.stub.shout("x".repeat(60000), 10); // under the app's 64 KiB frame limit
    await until(() => shouted === 10 * batch, `batch ${batch}`);
  }
  assert.equal(client.identity, first); // never reconnected (5.4 MB > the 4 MiB unacked limit)
});

test("a refused connection is not retried", async () => {
  const client = connect("tally", fresh(), { query: { token: "bad" } });
  await until(() => client.status === "closed", "the refusal");
  await assert.rejects(client.stub.add(1), (e) => e.code === "closed");
});
