"""What is live in the test cluster, seen from outside: activations of an agent, in both hostings."""

from __future__ import annotations

import ray

from agents import list_agents
from cluster.naming import DEDICATED_PREFIX, HOST_PREFIX
from tests.waiting import pid_alive


async def live_activations(namespace: str, key: str) -> list[tuple[str, int]]:
    """(host actor name, epoch) of every activation of `key` that exists, on any host (dedicated
    or pooled) that holds it."""
    found: list[tuple[str, int]] = []
    for entry in ray.util.list_named_actors(all_namespaces=True):
        name = entry["name"]
        if entry["namespace"] != namespace:
            continue
        if name.startswith((DEDICATED_PREFIX, HOST_PREFIX)):
            try:
                held = await ray.get_actor(name, namespace=namespace).held.remote()
            except (ValueError, ray.exceptions.RayActorError):
                continue  # a host that just died
            found += [(name, info["epoch"]) for info in held if info["key"] == key]
    return found


async def hibernated(namespace: str, info: dict) -> bool:
    """Whether the activation `info` (from `describe()`) is gone: no live activation of its agent,
    and, if it was dedicated, its process exited too."""
    key = info["key"]
    if key in (await list_agents())["live"] or await live_activations(namespace, key):
        return False
    return info["hosting"] == "pooled" or not pid_alive(info["pid"])
