"""What a host process does with its agents' events: keep the recent ones for readers
(`cluster.feed`), export metrics (`cluster.metrics`), and append them to the JSON-lines file
`RAY_AGENTS_EVENTS_LOG` names (`agents.events`). Installed once per process, by its first host.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from agents import events
from cluster.feed import EventFeed
from cluster.metrics import Metrics, enabled


class Telemetry:
    """The listeners of one host process, and what unsubscribes them."""

    def __init__(self) -> None:
        self.feed = EventFeed()
        self.metrics = Metrics() if enabled() else None
        self._stops: list[Callable[[], None]] = [events.subscribe(self.feed)]
        if self.metrics is not None:
            self._stops.append(events.subscribe(self.metrics, self.metrics.names))
        sink = events.sink_from_environment()
        if sink is not None:
            self._stops.append(sink)

    def set_live(self, count: int, connections: Mapping[str, int]) -> None:
        """The host carries `count` live agents now, with these open connections by type."""
        if self.metrics is not None:
            self.metrics.set_live(count, connections)

    def uninstall(self) -> None:
        """Unsubscribe every listener (events then cost nothing: benchmarks compare)."""
        for stop in self._stops:
            stop()
        self._stops.clear()
        self.metrics = None


_installed: Telemetry | None = None


def install() -> Telemetry:
    """This process's telemetry, installed on first use (by its first host)."""
    global _installed
    if _installed is None:
        _installed = Telemetry()
    return _installed


def uninstall() -> None:
    """Unsubscribe this process's telemetry, if installed (benchmarks measure without it)."""
    if _installed is not None:
        _installed.uninstall()
