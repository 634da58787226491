// The inspector's page (serve/inspector.py serves it and the API it reads): agents by type on the
// left; one agent on the right (state, SQL, schedules, queue, connections, a call form) with its
// events streaming beside it. Every request carries the page's own query string, so a gate that
// reads a token from it (`/-/inspector?token=...`) admits the page's requests too.

const ROOT = location.pathname.replace(/\/-\/inspector\/?$/, "");
const PASSED = new URLSearchParams(location.search);
const LIST_EVERY_MS = 3000;
const EVENTS_WAIT_S = 20;
const MAX_EVENTS = 500;
const TABS = ["state", "sql", "schedules", "queue", "connections", "call"];

const view = {
  list: null, // the last /api/agents answer
  listedAt: 0,
  classes: {}, // type name -> {type, doc, methods}
  selected: null, // {type, id}
  detail: null, // the last /api/agent answer of the selected agent
  tab: "state",
  events: [],
  paused: false,
  missed: 0,
  eventFilter: "",
  agentFilter: "",
  method: null, // the call form's method name
  calls: [], // the call form's results, newest first
  sql: "",
  result: null, // the last query's answer or error
};
let followToken = 0; // the events loop of the agent selected now (older loops stop)

// ---- helpers -----------------------------------------------------------------------------------

function url(path, params = {}) {
  const query = new URLSearchParams(PASSED);
  for (const [k, v] of Object.entries(params)) query.set(k, v);
  const text = query.toString();
  return ROOT + path + (text ? "?" + text : "");
}

async function fetchJson(path, params, options) {
  const response = await fetch(url(path, params), options);
  const text = await response.text();
  let body;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { error: { code: String(response.status), message: text } };
  }
  if (!response.ok) {
    const error = new Error(body?.error?.message || response.statusText);
    error.code = body?.error?.code || String(response.status);
    throw error;
  }
  return body;
}

const api = (name, params, options) => fetchJson("/-/inspector/api/" + name, params, options);

/** An element: h("div", {class: "x", onclick}, child, "text", ...). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function ago(seconds) {
  const s = Math.round(seconds);
  if (Math.abs(s) < 60) return s + " s";
  const m = Math.round(s / 60);
  if (Math.abs(m) < 60) return m + " min";
  const hr = Math.round(m / 60);
  return Math.abs(hr) < 48 ? hr + " h" : Math.round(hr / 24) + " d";
}

function when(unix) {
  if (unix === null || unix === undefined) return "—";
  const delta = unix - Date.now() / 1000;
  const rel = delta >= 0 ? "in " + ago(delta) : ago(-delta) + " ago";
  return h("span", { title: new Date(unix * 1000).toLocaleString() }, rel);
}

function clock(unix) {
  const d = new Date(unix * 1000);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

const short = (text, n = 10) => (text && text.length > n ? text.slice(0, n) : text || "");

/** Pretty JSON, coloured by kind (keys, strings, numbers, booleans, null). */
function json(value) {
  const pre = h("pre", { class: "json" });
  const text = JSON.stringify(value, null, 2) ?? "undefined";
  const token = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false)\b|\bnull\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
  let last = 0;
  for (const m of text.matchAll(token)) {
    pre.append(text.slice(last, m.index));
    const kind = m[1] ? (m[2] ? "k" : "s") : m[3] ? "b" : m[0] === "null" ? "z" : "n";
    pre.append(h("span", { class: kind }, m[1] ?? m[0]));
    if (m[2]) pre.append(m[2]);
    last = m.index + m[0].length;
  }
  pre.append(text.slice(last));
  return pre;
}

function cell(value) {
  if (value === null || value === undefined) return h("span", { class: "null" }, "null");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function grid(columns, rows) {
  return h(
    "div",
    { class: "grid-wrap" },
    h(
      "table",
      { class: "grid" },
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((v) => h("td", {}, v instanceof Node ? v : cell(v)))))),
    ),
  );
}

function errorBox(error) {
  return h("div", { class: "error", role: "alert" }, `${error.code || "error"}: ${error.message}`);
}

const sameAgent = (a, b) => a && b && a.type === b.type && a.id === b.id;

// ---- the list ----------------------------------------------------------------------------------

async function refreshList() {
  try {
    view.list = await api("agents");
    view.listedAt = Date.now();
    renderList();
    renderTotals();
    if (!view.selected) renderMain();
  } catch (error) {
    document.getElementById("freshness").textContent = "cannot list agents: " + error.message;
    document.getElementById("freshness").classList.add("stale");
  }
}

function hostLabel(agent) {
  return agent.host ? `host ${agent.host}` : "dedicated host";
}

function whereLabel(agent, nodes) {
  const node = agent.node || nodes?.[agent.node_id]?.address || short(agent.node_id, 8);
  return `${node} · ${hostLabel(agent)}`;
}

function renderTotals() {
  const types = view.list?.types || [];
  const live = types.reduce((n, t) => n + t.counts.live, 0);
  const sleeping = types.reduce((n, t) => n + t.counts.hibernated, 0);
  const nodes = Object.values(view.list?.nodes || {}).filter((n) => n.alive).length;
  const pooled = Object.keys(view.list?.hosts || {}).length;
  document.getElementById("totals").replaceChildren(
    h("span", { class: "chip" }, h("span", { class: "dot live" }), h("b", {}, live), "live"),
    h("span", { class: "chip" }, h("span", { class: "dot" }), h("b", {}, sleeping), "hibernated"),
    h("span", { class: "chip minor" }, h("b", {}, types.length), types.length === 1 ? "type" : "types"),
    h("span", { class: "chip minor" }, h("b", {}, nodes), nodes === 1 ? "node" : "nodes"),
    h("span", { class: "chip minor" }, h("b", {}, pooled), pooled === 1 ? "pooled host" : "pooled hosts"),
  );
  updateFreshness();
}

function updateFreshness() {
  const el = document.getElementById("freshness");
  if (!view.listedAt) return;
  const age = (Date.now() - view.listedAt) / 1000;
  el.textContent = age < 2 ? "up to date" : `updated ${ago(age)} ago`;
  el.classList.toggle("stale", age > 15);
}

function renderList() {
  const box = document.getElementById("agents");
  const needle = view.agentFilter.toLowerCase();
  const types = view.list?.types || [];
  if (!types.length) {
    box.replaceChildren(h("div", { class: "empty" }, "No agents yet. Call one and it appears here."));
    return;
  }
  box.replaceChildren(
    ...types.map((t) => {
      const typeMatches = t.type.toLowerCase().includes(needle);
      const agents = [
        ...t.live.map((a) => ({ ...a, live: true })),
        ...t.hibernated.map((a) => ({ ...a, live: false })),
      ].filter((a) => typeMatches || a.id.toLowerCase().includes(needle));
      if (needle && !agents.length) return null;
      const hidden = t.counts.live + t.counts.hibernated - t.live.length - t.hibernated.length;
      return h(
        "section",
        { class: "type", dataset: { type: t.type } },
        h(
          "div",
          { class: "type-head", title: view.classes[t.type]?.doc || "" },
          t.type,
          t.served ? null : h("span", { class: "badge warn", title: "not served by this app: no calls" }, "other app"),
          h("span", { class: "counts" }, `${t.counts.live} live · ${t.counts.hibernated} hibernated`),
        ),
        agents.map((a) =>
          h(
            "button",
            {
              class: "agent" + (sameAgent(a, view.selected) ? " selected" : ""),
              type: "button",
              dataset: { type: a.type, id: a.id, live: String(a.live) },
              onclick: () => select({ type: a.type, id: a.id }),
            },
            h("span", { class: "dot" + (a.live ? " live" : "") }),
            h("span", { class: "id", title: a.id }, a.id),
            h("span", { class: "badge " + (a.live ? "live" : "hibernated") }, a.live ? "live" : "hibernated"),
            a.live ? h("span", { class: "where" }, `epoch ${a.epoch} · ${whereLabel(a, view.list.nodes)}`) : null,
          ),
        ),
        hidden > 0 ? h("div", { class: "more" }, `and ${hidden} more, not listed`) : null,
      );
    }),
  );
}

// ---- one agent ---------------------------------------------------------------------------------

function select(agent) {
  const changed = !sameAgent(agent, view.selected);
  view.selected = agent;
  document.body.classList.add("showing-agent");
  if (changed) {
    view.detail = null;
    view.events = [];
    view.missed = 0;
    view.calls = [];
    view.result = null;
    view.method = null;
    view.sql = "";
    history.replaceState(null, "", "#" + encodeURIComponent(agent.type) + "/" + encodeURIComponent(agent.id));
  }
  renderList();
  renderMain();
  loadDetail(false);
  if (changed) follow(agent);
}

async function loadDetail(wake) {
  const agent = view.selected;
  if (!agent) return;
  try {
    const detail = await api("agent", { type: agent.type, id: agent.id, ...(wake ? { wake: "1" } : {}) });
    if (!sameAgent(agent, view.selected)) return;
    const before = view.detail?.live ? JSON.stringify(view.detail.state) : null;
    view.detail = detail;
    renderMain(before !== null && before !== JSON.stringify(detail.state));
    if (wake) refreshList();
  } catch (error) {
    if (!sameAgent(agent, view.selected)) return;
    view.detail = { error };
    renderMain();
  }
}

let detailTimer = null;
function refreshDetailSoon() {
  clearTimeout(detailTimer);
  detailTimer = setTimeout(() => loadDetail(false), 150);
}

function renderMain(stateChanged = false) {
  const main = document.getElementById("main");
  if (!view.selected) {
    main.replaceChildren(overview());
    return;
  }
  const d = view.detail;
  const { type, id } = view.selected;
  const head = h(
    "div",
    { class: "agent-head" },
    h("h1", {}, h("span", { class: "type-name" }, type + " / "), id),
    d && !d.error ? h("span", { class: "badge " + (d.live ? "live" : "hibernated") }, d.live ? "live" : "hibernated") : null,
    d?.live ? h("button", { class: "btn small", type: "button", onclick: () => loadDetail(false) }, "Refresh") : null,
  );
  const parts = [head];
  if (!d) parts.push(h("p", { class: "muted" }, "Loading…"));
  else if (d.error) parts.push(errorBox(d.error));
  else if (!d.live) parts.push(hibernating());
  else {
    parts.push(facts(d));
    parts.push(h("div", { class: "detail" }, panel(d, stateChanged), eventsCard()));
  }
  // Keep what the user is typing: re-rendering replaces the inputs (same IDs, same values).
  const kept = [...main.querySelectorAll("input[id], textarea[id], select[id]")].map((el) => [el.id, el.value, el.checked]);
  const focused = document.activeElement?.id;
  const caret = focused ? document.activeElement.selectionStart : null;
  main.replaceChildren(...parts);
  for (const [id, value, checked] of kept) {
    const el = document.getElementById(id);
    if (!el || id === "sql") continue; // the query box is view.sql's
    if (el.type === "checkbox") el.checked = checked;
    else el.value = value;
  }
  const again = focused && document.getElementById(focused);
  if (again) {
    again.focus();
    try {
      if (caret !== null) again.setSelectionRange(caret, caret);
    } catch {} // inputs without a caret (number, checkbox)
  }
  renderEvents();
}

function facts(d) {
  const fact = (label, value, title) => h("span", { title }, label + " ", h("b", {}, value));
  return h(
    "div",
    { class: "facts" },
    fact("epoch", d.epoch),
    fact("node", d.node || short(d.node_id, 12), d.node_id),
    fact(d.hosting === "pooled" ? "pooled host" : "dedicated host", d.hosting === "pooled" ? d.host : short(d.host, 34), d.host),
    fact("pid", d.pid),
    fact("checkpoints", d.checkpoints),
    fact("idle", ago(d.idle_seconds)),
    d.current_turn ? fact("in a turn", d.current_turn) : null,
    fact("next alarm", d.next_due ? when(d.next_due) : "none"),
  );
}

function hibernating() {
  return h(
    "div",
    { class: "card hibernating" },
    h("h2", { style: "justify-content:center;border:0" }, "Hibernated"),
    h(
      "p",
      {},
      "This agent is not in memory: its state, tables and schedules are in its last checkpoint. " +
        "Inspecting it wakes it (it hibernates again once idle).",
    ),
    h("button", { class: "btn primary", type: "button", id: "wake", onclick: () => loadDetail(true) }, "Wake & inspect"),
  );
}

function panel(d, stateChanged) {
  const counts = {
    sql: d.tables.filter((t) => !t.internal).length,
    schedules: d.schedules.length,
    queue: d.queue.length,
    connections: d.connections.length,
  };
  const labels = { state: "State", sql: "SQL", schedules: "Schedules", queue: "Queue", connections: "Connections", call: "Call" };
  const tabs = h(
    "div",
    { class: "tabs", role: "tablist" },
    TABS.map((name) =>
      h(
        "button",
        {
          class: "tab" + (view.tab === name ? " active" : ""),
          type: "button",
          role: "tab",
          dataset: { tab: name },
          onclick: () => {
            view.tab = name;
            renderMain();
          },
        },
        labels[name],
        counts[name] !== undefined ? h("span", { class: "n" }, counts[name]) : null,
      ),
    ),
  );
  const body = { state: stateTab, sql: sqlTab, schedules: schedulesTab, queue: queueTab, connections: connectionsTab, call: callTab }[view.tab](d, stateChanged);
  return h("section", { class: "card", id: "panel" }, tabs, h("div", { class: "card-body", id: "tab-" + view.tab }, body));
}

function stateTab(d, stateChanged) {
  const pre = json(d.state);
  pre.id = "state";
  if (stateChanged) pre.classList.add("flash");
  return [
    h("div", { class: "row" }, h("span", { class: "note" }, "As of the last turn; updates as the agent changes it."),
      h("button", { class: "btn small", type: "button", style: "margin-left:auto", onclick: () => navigator.clipboard?.writeText(JSON.stringify(d.state, null, 2)) }, "Copy")),
    pre,
  ];
}

function sqlTab(d) {
  const userTables = d.tables.filter((t) => !t.internal);
  const internal = d.tables.filter((t) => t.internal);
  const card = (t) =>
    h(
      "button",
      {
        class: "table-card" + (t.internal ? " internal" : ""),
        type: "button",
        title: t.internal ? "kept by the runtime (schedules, queue, durable jobs)" : "",
        onclick: () => {
          view.sql = `SELECT * FROM "${t.name.replaceAll('"', '""')}" LIMIT 100`;
          runQuery();
        },
      },
      h("div", {}, h("span", { class: "name" }, t.name), h("span", { class: "muted" }, ` · ${t.rows} ${t.rows === 1 ? "row" : "rows"}`)),
      h("div", { class: "cols" }, t.columns.map((c) => c.name + (c.type ? " " + c.type.toLowerCase() : "")).join(", ")),
    );
  const textarea = h("textarea", {
    class: "sql",
    id: "sql",
    spellcheck: "false",
    placeholder: "SELECT * FROM ... (read-only; Ctrl+Enter runs it)",
    oninput: (e) => (view.sql = e.target.value),
    onkeydown: (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) runQuery();
    },
  });
  textarea.value = view.sql;
  const r = view.result;
  return [
    d.tables.length ? null : h("p", { class: "muted" }, "No tables: this agent has not used SQL."),
    h("div", { class: "tables" }, userTables.map(card)),
    internal.length
      ? h("details", { class: "internal-tables" }, h("summary", {}, `Runtime tables (${internal.length}): schedules, queue, durable jobs`),
          h("div", { class: "tables" }, internal.map(card)))
      : null,
    textarea,
    h(
      "div",
      { class: "row" },
      h("button", { class: "btn primary", type: "button", id: "run-query", onclick: runQuery }, "Run"),
      h("span", { class: "note" }, "Read-only: statements that would write are refused. At most 100 rows."),
    ),
    r?.error ? errorBox(r.error) : null,
    r && !r.error
      ? [
          h("div", { class: "note", id: "query-note" }, `${r.rows.length} ${r.rows.length === 1 ? "row" : "rows"}${r.truncated ? " (more not shown)" : ""}`),
          grid(r.columns, r.rows),
        ]
      : null,
  ];
}

async function runQuery() {
  const agent = view.selected;
  try {
    const found = await api("query", agent, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ sql: view.sql, limit: 100 }) });
    view.result = found;
  } catch (error) {
    view.result = { error };
  }
  if (sameAgent(agent, view.selected)) {
    view.tab = "sql";
    renderMain();
  }
}

function schedulesTab(d) {
  if (!d.schedules.length) return h("p", { class: "muted" }, "Nothing scheduled.");
  return grid(
    ["method", "when", "kind", "repeats", "attempts", "status", "payload", "id"],
    d.schedules.map((s) => [s.method, when(s.next_run), s.kind, s.cron || (s.interval ? `every ${ago(s.interval)}` : "once"), s.attempts,
      h("span", { class: "badge" + (s.status === "failed" ? " warn" : "") }, s.status), s.payload, short(s.id, 12)]),
  );
}

function queueTab(d) {
  if (!d.queue.length) return h("p", { class: "muted" }, "The queue is empty.");
  return [
    h("p", { class: "note" }, "In order: each item waits for the one before it."),
    grid(
      ["#", "method", "status", "attempts", "next try", "payload", "id"],
      d.queue.map((q, i) => [i + 1, q.method, h("span", { class: "badge" + (q.attempts ? " warn" : "") }, q.attempts ? "retrying" : q.status),
        q.attempts, i > 0 && q.next_try < Date.now() / 1000 ? `after #${i}` : when(q.next_try), q.payload, short(q.id, 12)]),
    ),
  ];
}

function connectionsTab(d) {
  if (!d.connections.length) return h("p", { class: "muted" }, "No open connections.");
  return grid(
    ["connection", "access", "replica", "conn.state"],
    d.connections.map((c) => [c.id, h("span", { class: "badge" + (c.readonly ? " readonly" : "") }, c.readonly ? "read-only" : "read-write"), c.replica, c.state]),
  );
}

// ---- the call form -----------------------------------------------------------------------------

function fieldFor(name, schema, required) {
  const kind = schema.type;
  const id = "arg-" + name;
  const typeLabel = kind || (schema.anyOf ? schema.anyOf.map((s) => s.type || "…").join(" | ") : "json");
  const label = h("label", { for: id }, name, required ? h("span", { class: "req", title: "required" }, " *") : null, h("span", { class: "type" }, typeLabel));
  let input;
  if (schema.enum) {
    input = h("select", { id, dataset: { kind: "json" } }, schema.enum.map((v) => h("option", { value: JSON.stringify(v) }, String(v))));
  } else if (kind === "boolean") {
    input = h("input", { id, type: "checkbox", dataset: { kind: "boolean" }, checked: schema.default === true });
  } else if (kind === "integer" || kind === "number") {
    input = h("input", { id, type: "number", step: kind === "integer" ? "1" : "any", dataset: { kind }, value: schema.default ?? "" });
  } else if (kind === "string") {
    input = h("input", { id, type: "text", dataset: { kind: "string" }, value: schema.default ?? "" });
  } else {
    input = h("textarea", { id, dataset: { kind: "json" }, placeholder: "JSON" });
    if (schema.default !== undefined) input.value = JSON.stringify(schema.default);
  }
  input.name = name;
  return [label, input];
}

function readFields(form) {
  const args = {};
  for (const el of form.querySelectorAll("[name]")) {
    const kind = el.dataset.kind;
    if (kind === "boolean") args[el.name] = el.checked;
    else if (el.value === "") continue; // left out: its default applies
    else if (kind === "integer" || kind === "number") args[el.name] = Number(el.value);
    else if (kind === "string") args[el.name] = el.value;
    else args[el.name] = JSON.parse(el.value);
  }
  return args;
}

function callTab(d) {
  const cls = view.classes[d.type];
  if (!cls) return h("p", { class: "muted" }, "This app does not serve this agent type: it has no calls here.");
  if (!cls.methods.length) return h("p", { class: "muted" }, "This agent type has no @callable methods.");
  const spec = cls.methods.find((m) => m.name === view.method) || cls.methods[0];
  view.method = spec.name;
  const required = new Set(spec.schema.required || []);
  const props = Object.entries(spec.schema.properties || {});
  const form = h(
    "form",
    { id: "call-form", onsubmit: (e) => { e.preventDefault(); call(spec, form); } },
    props.length ? h("div", { class: "fields" }, props.map(([name, s]) => fieldFor(name, s, required.has(name)))) : h("p", { class: "note" }, "No arguments."),
    h("div", { class: "row" },
      h("button", { class: "btn primary", type: "submit", id: "call" }, `Call ${spec.name}`),
      h("span", { class: "note" }, `POST …/agents/${d.type}/${d.id}/rpc/${spec.name}, through the app's gate`)),
  );
  return [
    h("div", { class: "methods" }, cls.methods.map((m) =>
      h("button", { class: "btn small method" + (m.name === spec.name ? " active" : ""), type: "button", dataset: { method: m.name },
        onclick: () => { view.method = m.name; renderMain(); } }, m.name,
        m.readonly ? h("span", { class: "muted" }, " · ro") : null, m.streaming ? h("span", { class: "muted" }, " · stream") : null))),
    spec.doc ? h("p", { class: "doc" }, spec.doc) : null,
    form,
    h("div", { class: "results", id: "call-results" }, view.calls.map((c) =>
      h("div", { class: "result" }, h("div", { class: "what" }, `${clock(c.at)} ${c.method}(${JSON.stringify(c.args)}) · ${c.ms} ms`),
        c.error ? errorBox(c.error) : json(c.value)))),
  ];
}

async function call(spec, form) {
  const agent = view.selected;
  const started = performance.now();
  let args;
  const entry = { at: Date.now() / 1000, method: spec.name };
  try {
    args = readFields(form);
    entry.args = args;
    const path = `/agents/${encodeURIComponent(agent.type)}/${encodeURIComponent(agent.id)}/rpc/${encodeURIComponent(spec.name)}`;
    const response = await fetch(url(path), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(args) });
    const text = await response.text();
    if (spec.streaming && response.ok) entry.value = text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
    else {
      const body = text ? JSON.parse(text) : null;
      if (response.ok) entry.value = body;
      else entry.error = body?.error || { code: String(response.status), message: text };
    }
  } catch (error) {
    entry.args = entry.args || {};
    entry.error = { code: error.code || "error", message: error.message };
  }
  entry.ms = Math.round(performance.now() - started);
  if (!sameAgent(agent, view.selected)) return;
  view.calls = [entry, ...view.calls].slice(0, 10);
  renderMain();
  refreshDetailSoon();
}

// ---- events ------------------------------------------------------------------------------------

function eventsCard() {
  const filter = h("input", {
    id: "event-filter",
    type: "search",
    placeholder: "Filter by name (rpc, state, queue…)",
    value: view.eventFilter,
    oninput: (e) => {
      view.eventFilter = e.target.value;
      renderEvents();
    },
  });
  const pause = h("button", { class: "btn small", type: "button", id: "pause", onclick: () => {
    view.paused = !view.paused;
    if (!view.paused) view.missed = 0;
    renderMain();
  } }, view.paused ? (view.missed ? `Resume (${view.missed} new)` : "Resume") : "Pause");
  const clear = h("button", { class: "btn small", type: "button", onclick: () => { view.events = []; renderEvents(); } }, "Clear");
  return h(
    "section",
    { class: "card events-card", id: "events-panel" },
    h("h2", {}, h("span", { class: "live-dot" + (view.paused ? " off" : ""), title: view.paused ? "paused" : "streaming" }), "Events", h("span", { class: "muted", style: "font-weight:400" }, "newest first")),
    h("div", { class: "events-tools" }, filter, pause, clear),
    h("ol", { class: "events", id: "events" }),
  );
}

function eventClass(name) {
  if (name.endsWith(":error")) return "error";
  if (name.endsWith(":retry")) return "retry";
  return name.split(":")[0];
}

function eventFacts(e) {
  const shown = (k, v) => (k === "id" || k === "connection" ? short(String(v), 8) : typeof v === "object" ? JSON.stringify(v) : v);
  const parts = Object.entries(e.data || {}).map(([k, v]) => `${k}=${shown(k, v)}`);
  if (e.duration_s !== null && e.duration_s !== undefined) parts.push(`${(e.duration_s * 1000).toFixed(1)} ms`);
  if (view.detail?.epoch !== e.epoch) parts.push(`epoch ${e.epoch}`); // an earlier activation's
  return parts.join("  ");
}

function renderEvents() {
  const list = document.getElementById("events");
  if (!list) return;
  const needle = view.eventFilter.trim().toLowerCase();
  const shown = view.events.filter((e) => !needle || e.name.toLowerCase().includes(needle));
  if (!shown.length) {
    list.replaceChildren(h("li", { class: "empty" }, view.events.length ? "No event matches the filter." : "Waiting for events… call the agent to see some."));
    return;
  }
  list.replaceChildren(
    ...shown.slice(0, 200).map((e) =>
      h("li", { class: "event" + (e.fresh ? " new" : ""), dataset: { name: e.name } },
        h("time", { title: new Date(e.time * 1000).toLocaleString() }, clock(e.time)),
        h("span", { class: "ename " + eventClass(e.name) }, e.name),
        h("span", { class: "facts-line" }, eventFacts(e))),
    ),
  );
  for (const e of view.events) e.fresh = false;
}

/** Follow the agent's events (a long poll) until another agent is selected. */
async function follow(agent) {
  const token = ++followToken;
  let after = 0;
  let source = "";
  let buffered = [];
  while (token === followToken) {
    try {
      const found = await api("events", { type: agent.type, id: agent.id, after, source, wait: EVENTS_WAIT_S });
      if (token !== followToken) return;
      // Numbers are per host process: `source` tells the feed which one `after` came from.
      after = found.live ? found.last : 0;
      source = found.source || "";
      if (!found.events.length) continue;
      const backlog = !view.events.length && !buffered.length; // what happened before the page looked
      const fresh = found.events.map((e) => ({ ...e, fresh: !backlog })).reverse();
      if (view.paused) {
        buffered = [...fresh, ...buffered];
        view.missed += fresh.length;
        const pause = document.getElementById("pause");
        if (pause) pause.textContent = `Resume (${view.missed} new)`;
      } else {
        view.events = [...buffered, ...fresh, ...view.events].slice(0, MAX_EVENTS);
        buffered = [];
        renderEvents();
      }
      if (found.events.some((e) => e.name !== "checkpoint")) refreshDetailSoon();
    } catch (error) {
      if (token !== followToken) return;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    if (!view.paused && buffered.length) {
      view.events = [...buffered, ...view.events].slice(0, MAX_EVENTS);
      buffered = [];
      renderEvents();
    }
  }
}

// ---- overview (no agent selected) --------------------------------------------------------------

function overview() {
  const types = view.list?.types || [];
  const hosts = Object.entries(view.list?.hosts || {});
  return h(
    "div",
    {},
    h("h1", { style: "margin:0 0 6px;font-size:20px" }, "Agents"),
    h("p", { class: "hint" }, "Pick an agent on the left to see its state, tables, schedules, queue, connections and live events, and to call its methods."),
    h("div", { class: "overview" }, types.map((t) =>
      h("div", { class: "card" }, h("h2", {}, t.type, t.served ? null : h("span", { class: "badge warn" }, "other app")),
        h("div", { class: "card-body" }, h("div", { class: "big" }, t.counts.live, h("span", { class: "muted", style: "font-size:14px;font-weight:400" }, " live")),
          h("div", { class: "muted" }, `${t.counts.hibernated} hibernated`),
          view.classes[t.type]?.doc ? h("p", { class: "note" }, view.classes[t.type].doc.split("\n\n")[0]) : null)))),
    hosts.length
      ? [h("h2", { style: "font-size:15px;margin:22px 0 8px" }, "Pooled hosts"),
        grid(["host", "node", "agents"], hosts.map(([name, host]) => [name, view.list.nodes?.[host.node_id]?.address || short(host.node_id, 12), host.agents]))]
      : null,
  );
}

// ---- start -------------------------------------------------------------------------------------

function fromHash() {
  const [type, id] = location.hash.slice(1).split("/");
  return type && id ? { type: decodeURIComponent(type), id: decodeURIComponent(id) } : null;
}

async function start() {
  document.getElementById("filter").addEventListener("input", (e) => {
    view.agentFilter = e.target.value;
    renderList();
  });
  document.getElementById("back").addEventListener("click", () => {
    document.body.classList.remove("showing-agent");
  });
  try {
    const { classes } = await api("classes");
    view.classes = Object.fromEntries(classes.map((c) => [c.type, c]));
  } catch {
    view.classes = {};
  }
  await refreshList();
  const initial = fromHash();
  if (initial) select(initial);
  else renderMain();
  setInterval(() => {
    if (document.visibilityState === "visible") refreshList();
  }, LIST_EVERY_MS);
  setInterval(updateFreshness, 1000);
}

start();
