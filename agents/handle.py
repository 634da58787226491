"""`get_agent`: handles for calling agents from drivers, job scripts, Serve replicas and agents.

A handle is an `AgentHandle` at run time; `get_agent(Counter, id)` tells a type checker it is a
`Counter`, so calls to the agent's methods are checked against their signatures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Generic, TypeVar, cast, overload

from agents import runtime
from agents.agent import Agent
from agents.checkpoints import CheckpointInfo, RestorePoint
from agents.ids import validate_agent_id

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
        """The agent's ID."""
        return self._id

    def __getattr__(self, method: str) -> Any:
        if method.startswith("__"):
            raise AttributeError(method)
        streaming = False
        if not isinstance(self._agent, str):
            streaming = runtime.streams(self._agent, method)  # fail fast, locally
        agent, agent_id = self._agent, self._id

        if streaming:

            def start_stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                return runtime.router().stream(agent, agent_id, method, args, kwargs)

            return start_stream

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await runtime.router().call(agent, agent_id, method, args, kwargs)

        return call

    async def describe(self) -> dict[str, Any]:
        """Where this agent runs now: key, epoch, pid, node ID (activates it if needed)."""
        return await runtime.router().describe(self._agent, self._id)

    async def list_checkpoints(self) -> list[CheckpointInfo]:
        """The agent's restore points, oldest first (kept for its class's `checkpoint_retention`)."""
        return await runtime.router().manage("checkpoints", self._agent, self._id)

    async def restore(self, at: RestorePoint) -> CheckpointInfo:
        """Take the agent's state and SQL back to a restore point (an id from `list_checkpoints`,
        or a time: the latest checkpoint at or before it). The restore is itself a new checkpoint
        (it can be undone); connections and the results of acknowledged calls are kept.
        Raises CheckpointNotFoundError (outside the window, unknown id) or AgentDestroyedError."""
        return await runtime.router().manage("restore", self._agent, self._id, at)

    async def fork(self, new_id: str, at: RestorePoint | None = None) -> AgentHandle[A]:
        """A new agent of the same class, `new_id`, started from this one's restore point `at`
        (None: its latest checkpoint), with its own copy of the state and SQL. Raises
        AgentExistsError if `new_id` exists."""
        await runtime.router().manage("fork", self._agent, self._id, validate_agent_id(new_id), at)
        return AgentHandle(self._agent, new_id)

    async def destroy(self) -> None:
        """Destroy the agent from outside, as `Agent.destroy()` does from inside: its live
        activation is stopped, then its state, SQL and restore points are deleted for good
        (restore and fork then raise AgentDestroyedError; a later call starts it afresh)."""
        await runtime.router().manage("destroy", self._agent, self._id)

    @property
    def sync(self) -> SyncAgentHandle[A]:
        """The same agent with blocking methods, for scripts."""
        return SyncAgentHandle(self)

    def __repr__(self) -> str:
        name = self._agent if isinstance(self._agent, str) else self._agent.type_name
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
            return runtime.run_sync(result)

        return call

    def describe(self) -> dict[str, Any]:
        return runtime.run_sync(self._handle.describe())

    def list_checkpoints(self) -> list[CheckpointInfo]:
        return runtime.run_sync(self._handle.list_checkpoints())

    def restore(self, at: RestorePoint) -> CheckpointInfo:
        return runtime.run_sync(self._handle.restore(at))

    def fork(self, new_id: str, at: RestorePoint | None = None) -> AgentHandle[A]:
        return runtime.run_sync(self._handle.fork(new_id, at))

    def destroy(self) -> None:
        runtime.run_sync(self._handle.destroy())


def _blocking_iter(items: AsyncIterator[Any]) -> Iterator[Any]:
    while True:
        try:
            yield runtime.run_sync(items.__anext__())
        except StopAsyncIteration:
            return


@overload
def get_agent(agent: type[A], agent_id: str) -> A: ...
@overload
def get_agent(agent: str, agent_id: str) -> AgentHandle[Any]: ...
def get_agent(agent: type[A] | str, agent_id: str) -> A | AgentHandle[Any]:
    """A handle to the agent `agent_id` of class `agent` (a class, or a registered class name).

    It is an `AgentHandle` at run time. Given a class, a type checker sees it as an instance of
    that class, so `await get_agent(Counter, "a").add(5)` is an `int` and `.add("x")` a type
    error. For precise types, make `@callable` methods `async def` (a sync one is still awaited
    through a handle, which its declared type does not say) and streaming ones async generators.
    The type checker also accepts the class's other attributes, which a handle refuses at run
    time (`UnknownMethodError`, `NotCallableError`). For `.id`, `.sync`, `.describe()`,
    `.destroy()` and the restore points (`.list_checkpoints()`, `.restore(at)`, `.fork(new_id)`)
    in type-checked code, use `handle_of(h)`. Given a name, the handle is an `AgentHandle[Any]`.
    """
    return AgentHandle(agent, agent_id)


def handle_of(agent: A | AgentHandle[A]) -> AgentHandle[A]:
    """The `AgentHandle` that a typed handle is (`get_agent(Counter, id)` is typed `Counter`), for
    type-checked code: `handle_of(h).sync.add(1)`, `handle_of(h).id`, `await handle_of(h).describe()`."""
    if not isinstance(agent, AgentHandle):
        raise TypeError(f"{agent!r} is not an agent handle (get_agent returns one)")
    return cast("AgentHandle[A]", agent)
