"""`get_agent`: handles for calling agents from drivers, job scripts, Serve replicas and agents."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Generic, TypeVar

from agents.agent import Agent
from agents.methods import lookup_method
from cluster import routing  # a module import: cluster.routing imports agents back
from cluster.naming import validate_agent_id

A = TypeVar("A", bound=Agent)


class AgentHandle(Generic[A]):
    """A reference to one agent by class and ID. Methods are awaitable (`await h.add(5)`);
    streaming methods are async iterators (`async for x in h.tokens()`); `h.sync` blocks instead.

    Creating a handle is free: the agent is activated (or woken) by the first call.
    """

    def __init__(self, agent: type[A] | str, agent_id: str) -> None:
        self._agent = agent
        self._id = validate_agent_id(agent_id)

    @property
    def id(self) -> str:
        return self._id

    def __getattr__(self, method: str) -> Any:
        if method.startswith("__"):
            raise AttributeError(method)
        streaming = False
        if not isinstance(self._agent, str):
            streaming = lookup_method(self._agent, method).streaming  # fail fast, locally
        agent, agent_id = self._agent, self._id

        if streaming:

            def start_stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                return routing.router().stream(agent, agent_id, method, args, kwargs)

            return start_stream

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await routing.router().call(agent, agent_id, method, args, kwargs)

        return call

    async def describe(self) -> dict[str, Any]:
        """Where this agent runs now: key, epoch, pid, node ID (activates it if needed)."""
        return await routing.router().describe(self._agent, self._id)

    @property
    def sync(self) -> SyncAgentHandle[A]:
        """The same agent with blocking methods, for scripts."""
        return SyncAgentHandle(self)

    def __repr__(self) -> str:
        name = self._agent if isinstance(self._agent, str) else self._agent.__name__
        return f"AgentHandle({name}, {self._id!r})"


class SyncAgentHandle(Generic[A]):
    """Blocking view of an `AgentHandle` (`get_agent(Counter, "a").sync.add(5)`)."""

    def __init__(self, handle: AgentHandle[A]) -> None:
        self._handle = handle

    def __getattr__(self, method: str) -> Any:
        target = getattr(self._handle, method)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = target(*args, **kwargs)
            if hasattr(result, "__anext__"):
                return _blocking_iter(result)
            return routing.run_sync(result)

        return call

    def describe(self) -> dict[str, Any]:
        return routing.run_sync(self._handle.describe())


def _blocking_iter(items: AsyncIterator[Any]) -> Iterator[Any]:
    while True:
        try:
            yield routing.run_sync(items.__anext__())
        except StopAsyncIteration:
            return


def get_agent(agent: type[A] | str, agent_id: str) -> AgentHandle[A]:
    """A handle to the agent `agent_id` of class `agent` (a class, or a registered class name)."""
    return AgentHandle(agent, agent_id)
