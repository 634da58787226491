"""Prometheus metrics of the agents a host process carries, through Ray's metrics API
(`ray.util.metrics`): they appear at each node's metrics endpoint (`ray start
--metrics-export-port`, scraped by Ray's Prometheus and Grafana set-up) with Ray's own labels
(node address, worker ID, session) added. Ray prefixes each name with `ray_`.

`Metrics` is an events listener (`agents.events`): every number below is derived from the typed
events, so the two always agree. Labels are the agent type and, where it applies, the method,
error code or model; never an agent ID or a host (one series per agent would swamp Prometheus).
Off when the hosts' environment sets `RAY_AGENTS_METRICS=0`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from ray.util.metrics import Counter, Gauge, Histogram

from agents import events

#: Set to 0 in the hosts' environment to export no metrics.
SWITCH_VARIABLE = "RAY_AGENTS_METRICS"
#: Seconds: turns, activations, checkpoints (from half a millisecond to a minute).
LATENCY_BOUNDARIES = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
#: Seconds a due schedule or queue item ran after its time.
LATENESS_BOUNDARIES = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]
#: Lifecycle events counted by `agents_lifecycle_total`.
LIFECYCLE = ("activation", "wake", "hibernate", "evict", "destroy", "deactivate")


def enabled() -> bool:
    """Whether this process exports metrics (`RAY_AGENTS_METRICS`, on unless "0")."""
    return os.environ.get(SWITCH_VARIABLE, "1").strip().lower() not in ("0", "false", "off", "no")


class Metrics:
    """An events listener that keeps Ray metrics of this host process."""

    def __init__(self) -> None:
        #: Open connections by agent type as last set (a type that has none left is set to 0).
        self._connected: dict[str, int] = {}
        self.calls = Counter(
            "agents_calls",
            description="Calls that ran as turns, by agent type, method and outcome (ok, error).",
            tag_keys=("agent_type", "method", "outcome"),
        )
        self.errors = Counter(
            "agents_call_errors",
            description="Failed calls by agent type, method and error code.",
            tag_keys=("agent_type", "method", "code"),
        )
        self.turn_seconds = Histogram(
            "agents_turn_seconds",
            description="Seconds a call took in its agent, from the turn's start to its durable result.",
            boundaries=LATENCY_BOUNDARIES,
            tag_keys=("agent_type", "method"),
        )
        self.checkpoint_seconds = Histogram(
            "agents_checkpoint_seconds",
            description="Seconds a checkpoint write took (to the store's acknowledgement).",
            boundaries=LATENCY_BOUNDARIES,
            tag_keys=("agent_type",),
        )
        self.checkpoint_bytes = Counter(
            "agents_checkpoint_bytes",
            description="Bytes of checkpoints written to the store.",
            tag_keys=("agent_type",),
        )
        self.checkpoint_errors = Counter(
            "agents_checkpoint_errors",
            description="Checkpoint writes that failed (each retires its activation).",
            tag_keys=("agent_type", "code"),
        )
        self.lifecycle = Counter(
            "agents_lifecycle",
            description="Activations of new agents, wakes, hibernations, evictions, destroys, deactivations.",
            tag_keys=("agent_type", "event"),
        )
        self.activation_seconds = Histogram(
            "agents_activation_seconds",
            description="Seconds from an activation's start to its on_start's end (restore included).",
            boundaries=LATENCY_BOUNDARIES,
            tag_keys=("agent_type", "event"),
        )
        self.live = Gauge(
            "agents_live",
            description="Live agents in this host process (Ray's labels name the node and process).",
            tag_keys=(),
        )
        self.work = Counter(
            "agents_work",
            description="Due schedules and queue items run, by source and outcome (run, retry, error).",
            tag_keys=("agent_type", "source", "outcome"),
        )
        self.lateness = Histogram(
            "agents_alarm_lateness_seconds",
            description="Seconds a schedule or queue item ran after it was due.",
            boundaries=LATENESS_BOUNDARIES,
            tag_keys=("agent_type", "source"),
        )
        self.connections = Gauge(
            "agents_connections",
            description="Open WebSocket connections to the live agents of this host process.",
            tag_keys=("agent_type",),
        )
        self.chat_tokens = Counter(
            "agents_chat_tokens",
            description="Model tokens of chat agents, by model and kind (input, output).",
            tag_keys=("agent_type", "model", "kind"),
        )
        self.codemode_runs = Counter(
            "agents_codemode_runs",
            description="Code Mode programs run, by language and outcome (ok, error).",
            tag_keys=("agent_type", "language", "outcome"),
        )
        self._handlers: dict[str, Callable[[events.Event], None]] = {
            "rpc": self._call,
            "rpc:error": self._call,
            "checkpoint": self._checkpoint,
            "checkpoint:error": self._checkpoint_error,
            "chat:step": self._chat_step,
            "codemode:run": self._codemode,
            "codemode:error": self._codemode,
            **{name: self._lifecycle for name in LIFECYCLE},
            **{
                f"{source}:{verb}": self._work
                for source in ("schedule", "queue")
                for verb in ("run", "retry", "error")
            },
        }

    #: The events this listener needs (subscribe it to these only).
    @property
    def names(self) -> list[str]:
        return list(self._handlers)

    def __call__(self, event: events.Event) -> None:
        self._handlers[event.name](event)

    def set_live(self, count: int, connections: Mapping[str, int]) -> None:
        """This process now carries `count` live agents with these open connections by type (the
        host says so as they change: connection records travel with an agent across wakes and
        moves, so counting connect and disconnect events in one process would drift)."""
        self.live.set(count)
        for agent_type in self._connected.keys() | connections.keys():
            self.connections.set(connections.get(agent_type, 0), tags={"agent_type": agent_type})
        self._connected = dict(connections)

    def _call(self, e: events.Event) -> None:
        method = str(e.data.get("method", ""))
        ok = e.name == "rpc"
        self.calls.inc(
            1, tags={"agent_type": e.agent_type, "method": method, "outcome": "ok" if ok else "error"}
        )
        if not ok:
            code = str(e.data.get("error", ""))
            self.errors.inc(1, tags={"agent_type": e.agent_type, "method": method, "code": code})
        if e.duration_s is not None:
            self.turn_seconds.observe(e.duration_s, tags={"agent_type": e.agent_type, "method": method})

    def _checkpoint(self, e: events.Event) -> None:
        tags = {"agent_type": e.agent_type}
        if e.duration_s is not None:
            self.checkpoint_seconds.observe(e.duration_s, tags=tags)
        saved = e.data.get("bytes")
        if saved:
            self.checkpoint_bytes.inc(float(saved), tags=tags)

    def _checkpoint_error(self, e: events.Event) -> None:
        self.checkpoint_errors.inc(1, tags={"agent_type": e.agent_type, "code": str(e.data.get("error", ""))})

    def _lifecycle(self, e: events.Event) -> None:
        tags = {"agent_type": e.agent_type, "event": e.name}
        self.lifecycle.inc(1, tags=tags)
        if e.duration_s is not None:
            self.activation_seconds.observe(e.duration_s, tags=tags)

    def _work(self, e: events.Event) -> None:
        source, outcome = e.name.split(":")
        self.work.inc(1, tags={"agent_type": e.agent_type, "source": source, "outcome": outcome})
        late = e.data.get("late_s")
        if late is not None:
            self.lateness.observe(max(0.0, float(late)), tags={"agent_type": e.agent_type, "source": source})

    def _chat_step(self, e: events.Event) -> None:
        model = str(e.data.get("model", ""))
        for kind in ("input", "output"):
            tokens = e.data.get(f"{kind}_tokens")
            if tokens:
                self.chat_tokens.inc(
                    float(tokens), tags={"agent_type": e.agent_type, "model": model, "kind": kind}
                )

    def _codemode(self, e: events.Event) -> None:
        outcome = "ok" if e.name == "codemode:run" else "error"
        language = str(e.data.get("language", ""))
        self.codemode_runs.inc(1, tags={"agent_type": e.agent_type, "language": language, "outcome": outcome})
