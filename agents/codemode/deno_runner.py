"""The fixed JavaScript runner Deno starts; the model's program is handed to it over stdin.

Kept as a Python string so it ships with the package without package-data configuration.

Protocol (one JSON object per line):
- host -> runner, first line: `{"nonce", "code", "tools": [names], "max_message_bytes"}`.
- runner -> host, on stdout: `"\\n" + nonce + " " + json`. The message is `{"type": "call", "id", "tool",
  "args"}`, `{"type": "done", "result"}` or `{"type": "error", "error"}`. The leading newline ends any
  partial line the program wrote to stdout, so a protocol line always starts at the beginning of a line.
- host -> runner, after each call: `{"id", "ok": true, "value"}` or `{"id", "ok": false, "error"}`.

The program is wrapped as the body of `export default async function (tools) {...}` and imported from a
`data:` URL built at run time: a non-literal dynamic import, so Deno cannot pre-load anything it names and
every import the program makes goes through the permission checks (all of which deny).
"""

RUNNER_JS = r"""
const stringify = JSON.stringify;
const parse = JSON.parse;
const encoder = new TextEncoder();
const encode = encoder.encode.bind(encoder);
const decoder = new TextDecoder();
const stdout = Deno.stdout;
const writeOut = stdout.writeSync.bind(stdout);
const exit = Deno.exit;
const reader = Deno.stdin.readable.getReader();

let buffered = "";
async function readLine() {
  for (;;) {
    const at = buffered.indexOf("\n");
    if (at >= 0) {
      const line = buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
      return line;
    }
    const { value, done } = await reader.read();
    if (done) return null;
    buffered += decoder.decode(value, { stream: true });
  }
}

const init = parse(await readLine());
const nonce = init.nonce;
const maxMessage = init.max_message_bytes;

function send(message) {
  const bytes = encode("\n" + nonce + " " + stringify(message) + "\n");
  if (bytes.length > maxMessage) {
    throw new RangeError(`message of ${bytes.length} bytes exceeds the limit of ${maxMessage}`);
  }
  let written = 0;
  while (written < bytes.length) written += writeOut(bytes.subarray(written));
}

class ToolError extends Error {
  constructor(message) { super(message); this.name = "ToolError"; }
}

const pending = new Map();
let nextId = 0;
function call(tool, args) {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    try {
      send({ type: "call", id, tool, args: args ?? {} });
    } catch (err) {
      reject(new ToolError(`cannot call ${tool}: ${err.message}`));
      return;
    }
    pending.set(id, { resolve, reject });
  });
}

(async () => {
  for (;;) {
    const line = await readLine();
    if (line === null) exit(70);  // the host went away: never outlive it
    const reply = parse(line);
    const waiter = pending.get(reply.id);
    pending.delete(reply.id);
    if (reply.ok) waiter.resolve(reply.value);
    else waiter.reject(new ToolError(reply.error));
  }
})();

const tools = Object.freeze(Object.fromEntries(init.tools.map((name) => [name, (args) => call(name, args)])));
globalThis.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  console.error("Unhandled rejection:", event.reason);
});

const source = "export default async function (tools) {\n" + init.code + "\n}\n";
const url = "data:application/typescript," + encodeURIComponent(source);

function describe(err) {
  try {
    const text = err instanceof Error
      ? (err.stack ?? `${err.name}: ${err.message}`)
      : `Uncaught ${String(err)}`;
    const frames = text.replaceAll(url, "program.ts").split("\n").filter((l) => !l.includes(import.meta.url));
    return frames.join("\n").slice(0, 8192);
  } catch {
    return "Uncaught exception";
  }
}

function sendError(text) {
  // Cut the error until its message fits max_message_bytes (JSON escapes can make it grow).
  for (let size = text.length; ; size = Math.floor(size / 2)) {
    const cut = size < text.length ? text.slice(0, size) + "\n[error cut at max_message_bytes]" : text;
    try {
      send({ type: "error", error: cut });
      return;
    } catch {
      if (size === 0) exit(71);
    }
  }
}

try {
  const program = await import(url);
  const result = await program.default(tools);
  send({ type: "done", result: result === undefined ? null : result });
} catch (err) {
  sendError(describe(err));
}
exit(0);
"""
