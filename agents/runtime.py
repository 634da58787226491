"""Process-wide settings and cluster introspection: the SDK's one door into the runtime.

The runtime (`cluster`, and Ray with it) is imported on first use through `router()`, never when
`agents` is imported, so clients, `agents.http` and plain data types work without Ray.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any


def _routing() -> ModuleType:
    from cluster import routing

    return routing


def router() -> Any:
    """This process's `cluster.routing.Router` (caller side of every agent call)."""
    return _routing().router()


def run_sync(coro: Any) -> Any:
    """Run a coroutine to completion from blocking code (the `.sync` handles)."""
    return _routing().run_sync(coro)


def streams(agent_cls: type, method: str) -> bool:
    """Whether `method` of `agent_cls` is a streaming callable; raises its typed error if it is
    no callable at all (so a handle fails fast, before any call leaves the process)."""
    from cluster.methods import lookup_method

    return lookup_method(agent_cls, method).streaming


def method_table(agent_cls: type) -> dict[str, Any]:
    """The class's callable methods by name (`cluster.methods.MethodSpec`s: name, function,
    streaming, validator, result_type()), what RPC validation checks calls against."""
    from cluster.methods import method_table as table

    return dict(table(agent_cls))


def configure(*, namespace: str | None = None, store: str | None = None, hosting: str | None = None) -> None:
    """Choose the Ray namespace, checkpoint store URL and default hosting for this process's agents.

    Call before the first agent call. A namespace (`$RAY_AGENTS_NAMESPACE`, else "ray-agents")
    has one controller and one store: a process that chooses no store (nor `$RAY_AGENTS_STORE`)
    uses the running controller's (else ~/.ray-agents/checkpoints); one that chooses another
    store than the running controller's gets `StoreMismatchError` on its first call. The default
    hosting (`$RAY_AGENTS_HOSTING`, else "dedicated") is fixed by whoever starts the controller;
    a class's own `hosting` attribute wins.
    """
    _routing().configure_process(namespace=namespace, store=store, hosting=hosting)


async def list_agents() -> dict[str, Any]:
    """Live and hibernated agents, with activation counts, as the controller sees them."""
    return await (await router().checked_controller()).describe.remote()


async def start() -> None:
    """Make sure the placement controller runs (it starts with the first call anyway).

    Call it when a cluster (re)starts with hibernated agents that have alarms but no callers:
    the controller's alarm loop is what wakes them.
    """
    await (await router().checked_controller()).start.remote()


async def agent_events(
    agent_type: str, agent_id: str, after: int = 0, wait_s: float = 0.0, source: str | None = None
) -> dict[str, Any]:
    """Recent events (`agents.events`) of live agent TYPE/ID, numbered above `after`, waiting up
    to `wait_s` seconds for one: {"events", "last", "source", "live"}; to follow, pass `last` as
    `after` and `source` back (a wake in another process restarts the numbers)."""
    from cluster import observe

    return await observe.agent_events(agent_type, agent_id, after, wait_s, source)


def cluster_sampler() -> Any:
    """A `cluster.observe.Sampler`: `await sampler.sample()` gives live and hibernated agents by
    type and, from the second sample on, events per second since the previous one."""
    from cluster import observe

    return observe.Sampler()
