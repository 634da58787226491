"""Dedicated host actors, started ahead of need so waking a dedicated agent does not wait for a process.

A dedicated agent is a Ray actor of its own, and a new Ray actor is a new worker process: ~400 ms
on a quiet 2-core machine. Ray's own settings do not help past a job's first workers: it prestarts
`num_cpus` workers when a job starts, and it does not hand idle task workers to new actors
(`RAY_num_workers_soft_limit`, `RAY_enable_worker_prestart` and a warm-up task were measured: the
third actor and later still took ~400 ms). So the controller keeps `dedicated_spares_per_node`
empty dedicated hosts started on each node it has placed a dedicated agent on: an activation takes
one (one call to a running process) and a replacement starts in the background.

Every dedicated host is named `ray-agents-dedicated:<id>` (spare or not), detached, and carries
at most one agent, then stops when that agent retires.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from typing import Any

from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from cluster.config import RuntimeConfig
from cluster.naming import DEDICATED_PREFIX

log = logging.getLogger("ray_agents.controller")


class DedicatedHosts:
    """Started, empty dedicated hosts per node, and how to get one."""

    def __init__(self, config: RuntimeConfig, host_class: Any) -> None:
        self._config = config
        self._host_class = host_class
        #: node ID -> (name, actor) of empty dedicated hosts started there.
        self._spares: defaultdict[str, list[tuple[str, Any]]] = defaultdict(list)

    def take(self, node_id: str | None) -> tuple[str, Any]:
        """A dedicated host on `node_id` (a soft preference; None: anywhere): a spare if one is
        there, else one started now. Either way a spare is started to take its place."""
        spares = self._spares[node_id] if node_id is not None else []
        taken = spares.pop(0) if spares else self._start(node_id)
        if node_id is not None:
            while len(spares) < self._config.dedicated_spares_per_node:
                spares.append(self._start(node_id))
        return taken

    def adopt(self, name: str, actor: Any, node_id: str) -> None:
        """A restarted controller found this empty dedicated host: keep it as a spare."""
        self._spares[node_id].append((name, actor))

    def forget_nodes(self, alive: set[str]) -> None:
        """Spares on nodes that are gone are gone with them."""
        for node_id in [n for n in self._spares if n not in alive]:
            del self._spares[node_id]

    def spares(self) -> dict[str, list[str]]:
        """Names of the spare hosts by node (for `describe`)."""
        return {node: [name for name, _ in hosts] for node, hosts in self._spares.items() if hosts}

    def _start(self, node_id: str | None) -> tuple[str, Any]:
        name = f"{DEDICATED_PREFIX}{uuid.uuid4().hex[:12]}"
        actor = self._host_class.options(
            name=name,
            namespace=self._config.namespace,
            lifetime="detached",
            max_restarts=0,
            num_cpus=self._config.agent_num_cpus,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=True) if node_id else None,
        ).remote(self._config, name, "dedicated", 1)
        return name, actor
