"""The `Agent` base class users subclass."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import pydantic


class AgentRuntime(Protocol):
    """What an agent needs from the activation hosting it (implemented in `cluster.activation`)."""

    agent_id: str

    def get_state(self) -> Any: ...
    def set_state(self, new: Any, source: Any) -> None: ...
    def sql(self, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]: ...
    def request_destroy(self) -> None: ...


class Agent:
    """A Python class with durable state; each agent ID has exactly one live instance in the cluster.

    Subclass it, set `initial_state` (or a pydantic `State` model), and mark the methods callers
    may invoke with `@callable`. Calls to one agent run one at a time (turns); a turn that raises
    is rolled back (state and SQL), and a turn that changed anything is checkpointed before its
    caller sees the result.
    """

    #: The state a new agent starts with (a dict, or data for `State`).
    initial_state: ClassVar[Any] = None
    #: Optional pydantic model that state must validate against.
    State: ClassVar[type[pydantic.BaseModel] | None] = None
    #: Seconds without calls after which the agent checkpoints and releases its actor.
    idle_timeout: ClassVar[float] = 300.0

    _runtime: AgentRuntime

    @property
    def name(self) -> str:
        """This agent's ID."""
        return self._runtime.agent_id

    @property
    def state(self) -> Any:
        """The current state (a dict, or an instance of `State`)."""
        return self._runtime.get_state()

    def set_state(self, new: Any, *, source: Any = "server") -> None:
        """Replace the state. Validated now (`State`, `validate_state_change`); persisted at turn end."""
        self._runtime.set_state(new, source)

    def sql(self, query: str, *params: Any) -> list[dict[str, Any]]:
        """Run one SQL statement on this agent's own SQLite database; rows come back as dicts."""
        return self._runtime.sql(query, params)

    async def destroy(self) -> None:
        """Delete this agent and its storage for good once the current turn ends."""
        self._runtime.request_destroy()

    # Hooks: override what you need.

    async def on_start(self) -> None:
        """Runs after every activation, with state and SQL already restored."""

    def validate_state_change(self, new: Any, source: Any) -> None:
        """Raise to refuse a proposed state (the caller gets the error; state is unchanged)."""

    async def on_state_update(self, state: Any, source: Any) -> None:
        """Runs after a turn that changed state has been persisted."""
