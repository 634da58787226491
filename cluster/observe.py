"""Reading what agents do, from outside them: one agent's recent events (a tail that follows
it across wakes and moves), and the cluster's counts and event rates (`ray-agents top`, the
inspector). Every number comes from the hosts' event feeds (`cluster.feed`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from cluster.naming import agent_key
from cluster.routing import router


async def _controller() -> Any:
    return await router().checked_controller()


async def agent_events(
    agent_type: str, agent_id: str, after: int = 0, wait_s: float = 0.0, source: str | None = None
) -> dict[str, Any]:
    """Agent TYPE/ID's events numbered above `after` in its host's feed, waiting up to `wait_s`
    seconds for one: {"events": [...], "last", "source", "live": bool}. Pass `last` and `source`
    back to follow it: numbers are per host process, so when the agent wakes or moves elsewhere
    (another `source`) the new feed is read from its start. A hibernated agent has none (it is
    not asked to wake)."""
    host = await (await _controller()).host_of.remote(agent_key(agent_type, agent_id))
    if host is None:
        if wait_s > 0:
            await asyncio.sleep(min(wait_s, 1.0))  # a tail polls for the next activation
        return {"events": [], "last": 0, "source": None, "live": False}
    try:
        found = await host.events.remote(after, (agent_type, agent_id), wait_s, source)
    except Exception:  # the host went away (hibernated, moved) while we asked
        return {"events": [], "last": 0, "source": None, "live": False}
    return {**found, "live": True}


async def host_counts() -> list[dict[str, Any]]:
    """Each host's load and event totals (`AgentHost.counts`); hosts that died meanwhile are left out."""
    hosts = await (await _controller()).host_actors.remote()
    answers = await asyncio.gather(*(h.counts.remote() for h in hosts), return_exceptions=True)
    return [a for a in answers if isinstance(a, dict)]


@dataclass
class TypeSummary:
    """One agent type at one moment: live and hibernated agents, and events per second by name."""

    live: int = 0
    hibernated: int = 0
    rates: dict[str, float] = field(default_factory=dict)


@dataclass
class Sampler:
    """Successive samples of the cluster; rates are the events between two samples of the same
    host process (a host that appeared or died in between counts from its next sample)."""

    _previous: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    async def sample(self) -> dict[str, Any]:
        """{"at", "types": {type: TypeSummary}, "hosts": n}."""
        described, counts = await asyncio.gather((await _controller()).describe.remote(), host_counts())
        types: dict[str, TypeSummary] = {}
        for placement in described["live"].values():
            types.setdefault(placement["type"], TypeSummary()).live += 1
        for agent_type, _ in described["hibernated"]:
            types.setdefault(agent_type, TypeSummary()).hibernated += 1
        current = {(c["name"], c["pid"]): c for c in counts}
        for host, now in current.items():
            before = self._previous.get(host)
            if before is None:
                continue
            elapsed = max(now["at"] - before["at"], 1e-6)
            for agent_type, names in now["events"].items():
                rates = types.setdefault(agent_type, TypeSummary()).rates
                for name, total in names.items():
                    delta = total - before["events"].get(agent_type, {}).get(name, 0)
                    rates[name] = rates.get(name, 0.0) + delta / elapsed
        self._previous = current
        return {"at": time.time(), "types": types, "hosts": len(current)}
