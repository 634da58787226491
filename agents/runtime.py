"""Process-wide settings and cluster introspection."""

from __future__ import annotations

from typing import Any

from cluster import routing
from cluster.config import RuntimeConfig


def configure(*, namespace: str | None = None, store: str | None = None) -> None:
    """Choose the Ray namespace and checkpoint store URL for this process's agents.

    Call before the first agent call. The store is fixed by whoever starts the controller first
    (defaults: `$RAY_AGENTS_NAMESPACE` or "ray-agents"; `$RAY_AGENTS_STORE` or ~/.ray-agents).
    """
    defaults = RuntimeConfig()
    routing.configure(
        RuntimeConfig(namespace=namespace or defaults.namespace, store_url=store or defaults.store_url)
    )


async def list_agents() -> dict[str, Any]:
    """Live and hibernated agents, with activation counts, as the controller sees them."""
    return await routing.router().controller().describe.remote()


async def start() -> None:
    """Make sure the placement controller runs (it starts with the first call anyway).

    Call it when a cluster (re)starts with hibernated agents that have alarms but no callers:
    the controller's alarm loop is what wakes them.
    """
    await routing.router().controller().start.remote()
