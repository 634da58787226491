"""Pooled host actors as the controller sees them: where they run, how full they are, which to use.

Placement: hosts start on the alive nodes with the fewest hosts until every node has
`hosts_per_node` (one event loop per core is what a node can use); then a pooled activation goes
to the least-loaded host that has room (per class: `Agent.max_agents_per_host`; in all: the
deployment's `max_agents_per_host`). When none has room, the least-loaded host takes it anyway
and makes room by evicting its least recently used idle agents (their checkpoints are already in
the store), so live agents are bounded by the hosts' capacity, not by how many IDs were ever used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from cluster.config import RuntimeConfig
from cluster.naming import HOST_PREFIX

log = logging.getLogger("ray_agents.controller")


@dataclass
class PooledHost:
    name: str
    actor: Any
    node_id: str
    #: Keys of the agents placed here, and how many of each class.
    agents: set[str] = field(default_factory=set)
    per_class: Counter[str] = field(default_factory=Counter)


class HostPool:
    """The pooled hosts of one controller."""

    def __init__(self, config: RuntimeConfig, host_class: Any) -> None:
        self._config = config
        self._host_class = host_class
        self.hosts: dict[str, PooledHost] = {}
        self._lock = asyncio.Lock()

    def place(self, host: PooledHost, key: str, cls_name: str) -> None:
        if key not in host.agents:
            host.agents.add(key)
            host.per_class[cls_name] += 1

    def unplace(self, host_name: str, key: str, cls_name: str) -> None:
        host = self.hosts.get(host_name)
        if host is not None and key in host.agents:
            host.agents.discard(key)
            host.per_class[cls_name] -= 1

    def drop(self, name: str) -> None:
        """Forget a host that died or stopped answering, and make sure it is gone: an unreachable
        host that came back must not serve its (replaced) agents. Its agents are re-activated
        elsewhere by their next call or alarm."""
        host = self.hosts.pop(name, None)
        if host is not None:
            log.warning("pooled host %s is gone; its agents will be re-activated elsewhere", name)
            with contextlib.suppress(Exception):
                ray.kill(host.actor, no_restart=True)

    def adopt(self, name: str, actor: Any, node_id: str) -> PooledHost:
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = PooledHost(name, actor, node_id)
        return host

    async def choose(self, cls_name: str, class_limit: int | None, alive: set[str]) -> PooledHost:
        """The host for a new activation of class `cls_name`, starting one if that is the rule."""
        async with self._lock:  # many activations at once must not all start a host
            for name in [n for n, h in self.hosts.items() if h.node_id not in alive]:
                self.drop(name)
            if alive and len(self.hosts) < self._config.hosts_per_node * len(alive):
                return self._start(alive)  # spread over every node's cores before packing
            limit = self._config.max_agents_per_host
            roomy = [
                h
                for h in self.hosts.values()
                if len(h.agents) < limit and (class_limit is None or h.per_class[cls_name] < class_limit)
            ]
            if roomy:
                return min(roomy, key=lambda h: (len(h.agents), random.random()))
            if not self.hosts:
                raise RuntimeError("no alive node to start a pooled host on")
            return min(self.hosts.values(), key=lambda h: (len(h.agents), random.random()))

    def _start(self, alive: set[str]) -> PooledHost:
        per_node = Counter(h.node_id for h in self.hosts.values())
        node_id = min(alive, key=lambda n: (per_node[n], random.random()))
        name = f"{HOST_PREFIX}{uuid.uuid4().hex[:12]}"
        actor = self._host_class.options(
            name=name,
            namespace=self._config.namespace,
            lifetime="detached",
            max_restarts=0,  # a restarted host would come back empty: the controller re-places instead
            max_concurrency=100_000,  # every agent's calls and push streams share this actor
            num_cpus=self._config.agent_num_cpus,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=True),
        ).remote(self._config, name, "pooled", self._config.max_agents_per_host)
        host = self.hosts[name] = PooledHost(name, actor, node_id)
        log.info("started pooled host %s on node %s (%d hosts)", name, node_id[:8], len(self.hosts))
        return host
