"""Typed events of the agents a process hosts: what happened to which agent, where and for how long.

Every event has a stable name, `domain:verb` (`rpc`, `rpc:error`, `checkpoint`, ...: `NAMES`),
the agent's type, ID and epoch, the Ray node, the time and, where it applies, a duration. `data`
holds a few small facts (a method name, an error code, bytes written), never state, arguments,
results or secrets. Events stay in the process that hosts the agent (an agent host):

```python
from agents import events

stop = events.subscribe(lambda e: print(e.name, e.agent_id, e.duration_s), names=["rpc:error"])
```

`subscribe` from code that runs there (an agent's `on_start`, a module the hosts import), or
set `RAY_AGENTS_EVENTS_LOG=/path/events.jsonl` in the hosts' environment: each host process then
appends every event to that file as one JSON line (`JsonLinesSink`). With nobody subscribed an
event costs one dictionary lookup.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger("ray_agents.events")

#: The events and what each means.
NAMES: Mapping[str, str] = {
    "activation": "a new agent (no checkpoint yet) was activated and its on_start ran (duration)",
    "wake": "an agent was restored from its checkpoint and its on_start ran (duration, alarm)",
    "hibernate": "an idle agent was retired from memory (idle_timeout); its next call wakes it",
    "evict": "a live agent was retired to make room on a full host",
    "destroy": "an agent was destroyed",
    "deactivate": "an activation ended otherwise (replaced by a newer epoch, failed, dropped)",
    "rpc": "a call (handle, HTTP, WebSocket, MCP) ran as a turn and succeeded (duration, method)",
    "rpc:error": "a call failed and its turn was rolled back (duration, method, error code)",
    "state:update": "a turn changed the state (source: a connection ID or server; bytes)",
    "checkpoint": "a checkpoint landed in the store (duration, bytes, seq)",
    "checkpoint:error": "a checkpoint write failed; the activation retires (error)",
    "schedule:create": "a turn called schedule() (method, id, kind); undone if the turn fails",
    "schedule:run": "a due schedule ran (duration, method, id, attempt, late_s)",
    "schedule:retry": "a due schedule failed and will run again (duration, method, id, attempt, error)",
    "schedule:error": "a due schedule failed for the last time (duration, method, id, attempt, error)",
    "queue:create": "a turn called queue() (method, id); undone if the turn fails",
    "queue:run": "a queued item ran (duration, method, id, attempt, late_s)",
    "queue:retry": "a queued item failed and will run again (duration, method, id, attempt, error)",
    "queue:error": "a queued item failed for the last time (duration, method, id, attempt, error)",
    "connect": "a WebSocket client connected (connection ID, readonly)",
    "disconnect": "a WebSocket connection closed (connection ID, close code)",
    "chat:start": "a chat reply began (stream)",
    "chat:step": "one model call of a reply returned (duration, model, tool_calls, input/output_tokens)",
    "chat:tool": "a chat tool ran (duration, tool; error: true if it failed)",
    "chat:approval": "a chat tool call waits for the user's approval (tool)",
    "chat:done": "a chat reply ended or paused (status: complete, max_steps, awaiting_approval, ...)",
    "codemode:run": "a Code Mode program ran to its end (duration, language)",
    "codemode:error": "a Code Mode program failed (duration, language; error: the limit it hit, or error)",
}
#: The environment variable that makes each host process append its events to a JSON-lines file.
LOG_VARIABLE = "RAY_AGENTS_EVENTS_LOG"

Listener = Callable[["Event"], None]


@dataclass(frozen=True)
class Event:
    """One thing that happened to one agent."""

    name: str
    agent_type: str
    agent_id: str
    epoch: int
    #: The Ray node the agent runs on.
    node: str
    #: When it happened (or ended), in seconds since the epoch.
    time: float
    duration_s: float | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_listeners: dict[str, list[Listener]] = {name: [] for name in NAMES}
_lock = threading.Lock()


def subscribe(listener: Listener, names: Iterable[str] | None = None) -> Callable[[], None]:
    """Call `listener(event)` for each event of `names` (all by default) that this process
    emits; returns the function that unsubscribes it. A listener runs on the event loop of the
    agents: keep it quick; what it raises is logged and dropped."""
    chosen = list(NAMES) if names is None else list(names)
    unknown = sorted(set(chosen) - set(NAMES))
    if unknown:
        raise ValueError(f"unknown event names {unknown}; the names are {sorted(NAMES)}")
    with _lock:
        for name in chosen:
            _listeners[name] = [*_listeners[name], listener]

    def unsubscribe() -> None:
        with _lock:
            for name in chosen:
                _listeners[name] = [kept for kept in _listeners[name] if kept is not listener]

    return unsubscribe


def error_code(exc: BaseException) -> str:
    """What an event says of an error: its code (`AgentError`s), else its type's name."""
    return getattr(exc, "code", None) or type(exc).__name__


def listening(name: str) -> bool:
    """Whether anyone would receive an event of `name` (else it need not be built)."""
    return bool(_listeners[name])


def emit(event: Event) -> None:
    """Hand `event` to its listeners (the runtime emits; listeners never break a turn)."""
    for listener in _listeners[event.name]:
        try:
            listener(event)
        except Exception:
            log.exception("an event listener failed on %s", event.name)


#: `emit(name, duration_s, **data)` of the agent whose turn runs in this context (set by the
#: runtime as each turn starts): SDK code that does not hold the agent (Code Mode) emits through it.
turn_emitter: contextvars.ContextVar[Callable[..., None] | None] = contextvars.ContextVar(
    "ray_agents_turn_emitter", default=None
)


def emit_in_turn(name: str, duration_s: float | None = None, **data: Any) -> None:
    """Emit `name` as an event of the agent whose turn this is (nothing outside a turn)."""
    emitter = turn_emitter.get()
    if emitter is not None:
        emitter(name, duration_s, **data)


class JsonLinesSink:
    """A listener that appends each event to a file as one JSON line (safe to share a file
    between processes: each line is one `write` of an `O_APPEND` file)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def __call__(self, event: Event) -> None:
        os.write(self._fd, (json.dumps(event.to_json(), default=str) + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)


def sink_from_environment() -> Callable[[], None] | None:
    """Subscribe a JsonLinesSink to every event when `RAY_AGENTS_EVENTS_LOG` names a file (agent
    hosts call this when they start, once per process); returns what unsubscribes it."""
    path = os.environ.get(LOG_VARIABLE)
    if not path:
        return None
    try:
        return subscribe(JsonLinesSink(path))
    except OSError as exc:  # a bad path must not stop the host: its agents matter more
        log.warning(
            "%s=%s: cannot open it (%s); this process writes no events there", LOG_VARIABLE, path, exc
        )
        return None
