"""The `Agent` base class users subclass."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import pydantic

from agents import limits, runscope
from agents.connections import WebHooks
from agents.durable import DurableJob
from agents.errors import InvalidScheduleError
from agents.hosting import Hosting
from agents.ids import derived_type_name, validate_type_name
from agents.scheduling import QueueItem, RetryPolicy, Schedule, Scheduling

if TYPE_CHECKING:  # Code Mode and the MCP client are imported only when an agent uses them
    from agents.codemode import CodeResult, Limits
    from agents.mcp_client import McpClient

#: The values of one SQL statement: a sequence for `?` placeholders, a mapping for `:name` ones.
SqlParams = Sequence[Any] | Mapping[str, Any]


class AgentRuntime(Protocol):
    """What an agent needs from the activation hosting it (implemented in `cluster.activation`)."""

    agent_id: str
    scheduler: Scheduling

    async def commit_progress(self) -> None: ...
    def get_state(self) -> Any: ...
    def set_state(self, new: Any, source: Any) -> None: ...
    def sql(self, query: str, params: SqlParams) -> list[dict[str, Any]]: ...
    def sql_many(self, query: str, rows: Iterable[SqlParams]) -> int: ...
    def request_destroy(self) -> None: ...
    def turn_is_readonly(self) -> bool: ...
    def emit(self, name: str, duration_s: float | None = None, **data: Any) -> None: ...


def _resolve_annotations(cls: type) -> None:
    """Replace the class's methods' string annotations (`from __future__ import annotations`) by
    the types they name, while the module's names are at hand: a class shipped to the cluster by
    value takes only the names its code uses, so hosts and replicas could not resolve them, and
    would check arguments and describe results (MCP schemas) without them. An annotation naming
    something defined later in the module stays a string (resolved where it is used, if it can be)."""
    for value in vars(cls).values():
        function = getattr(value, "__func__", value)
        annotations = getattr(function, "__annotations__", None)
        if not inspect.isfunction(function) or not annotations:
            continue
        if not any(isinstance(a, str) for a in annotations.values()):
            continue
        try:
            function.__annotations__ = typing.get_type_hints(function, include_extras=True)
        except Exception:  # a name defined later, or not at all: leave it for later
            continue


class Agent(WebHooks):
    """A Python class with durable state; each agent ID has exactly one live instance in the cluster.

    Subclass it, set `initial_state` (or a pydantic `State` model), and mark the methods callers
    may invoke with `@callable`. Calls to one agent run one at a time (turns); a turn that raises
    is rolled back (state and SQL), and a turn that changed anything is checkpointed before its
    caller sees the result.
    """

    #: The agent type's one name: in keys and the store, URLs (`/agents/{type_name}/{id}`), string
    #: handles (`get_agent("counter", "alice")`) and the CLI. Default: the class name in
    #: kebab-case (ChatRoom -> "chat-room"). Two different classes may not use the same name.
    type_name: ClassVar[str] = "agent"
    #: The state a new agent starts with (a dict, or data for `State`).
    initial_state: ClassVar[Any] = None
    #: Optional pydantic model that state must validate against.
    State: ClassVar[type[pydantic.BaseModel] | None] = None
    #: Seconds without calls after which the agent checkpoints and releases its actor.
    idle_timeout: ClassVar[float] = 300.0
    #: Retries of failing scheduled and queued runs, unless a call passes its own `retry=`.
    schedule_retry: ClassVar[RetryPolicy] = RetryPolicy()
    #: Seconds each checkpoint stays restorable (`restore`, `fork`, `list_checkpoints`); 0 keeps
    #: no history (each checkpoint replaces the last).
    checkpoint_retention: ClassVar[float] = 7 * 24 * 3600.0
    #: Largest state, msgpack-encoded as checkpointed (None: no limit). A turn that makes it larger
    #: fails with StateTooLargeError and is rolled back. 512 KiB (msgpack): half the 1 MiB WebSocket frame a
    #: client gets the state in as JSON, which is larger for number-heavy state (`agents.limits`).
    max_state_bytes: ClassVar[int | None] = limits.MAX_STATE_BYTES
    #: Largest SQLite database (None: no limit), enforced by SQLite: a statement that would grow it
    #: past this fails with DatabaseFullError, and its turn is rolled back.
    max_database_bytes: ClassVar[int | None] = limits.MAX_DATABASE_BYTES
    #: Largest item a streaming method may yield, as JSON (None: no limit): a larger one ends the
    #: stream with ChunkTooLargeError. 1 MiB less 4 KiB: its frame fits the WebSocket frame limit.
    max_chunk_bytes: ClassVar[int | None] = limits.MAX_CHUNK_BYTES
    #: Seconds one MCP server call (`self.mcp`) may take, connecting included: past it, McpTimeoutError.
    mcp_timeout: ClassVar[float] = 30.0
    #: Largest arguments of an MCP tool call or prompt, as JSON (None: no limit): past it,
    #: McpArgumentsTooLargeError, before anything is sent.
    mcp_max_argument_bytes: ClassVar[int | None] = limits.MAX_MCP_ARGUMENT_BYTES
    #: Offer the agent's committed state as a resource on its MCP endpoint
    #: (`agent://{type_name}/{id}/state`, JSON), read through `validate_request` as HTTP is.
    mcp_state_resource: ClassVar[bool] = False
    #: Where activations live: "dedicated" (a Ray actor, an OS process, of its own) or "pooled"
    #: (one of many in a shared host actor: ~KiB each, millisecond wakes, but host-mates share an
    #: event loop). None: the deployment's default (`agents.configure(hosting=...)`,
    #: `$RAY_AGENTS_HOSTING`, else "dedicated").
    hosting: ClassVar[Hosting | None] = None
    #: Pooled hosting: at most this many agents of this class on one host (None: the deployment's
    #: `max_agents_per_host`).
    max_agents_per_host: ClassVar[int | None] = None

    #: Whether the class set `type_name` itself (else it was derived from the class name).
    _type_name_chosen: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._type_name_chosen = "type_name" in cls.__dict__
        if cls._type_name_chosen:  # chosen: checked now, at class definition
            validate_type_name(cls.type_name, f"{cls.__qualname__}.type_name")
        else:  # derived (a subclass never inherits its parent's name)
            cls.type_name = validate_type_name(
                derived_type_name(cls.__name__), f"{cls.__qualname__}.type_name (derived from its name)"
            )
        _resolve_annotations(cls)

    @property
    def _runtime(self) -> AgentRuntime:
        """The activation hosting this agent; seen from a Code Mode run's tools, only while the run lasts
        (`agents.runscope`)."""
        return runscope.guarded(self.__dict__["_bound_runtime"])

    @_runtime.setter
    def _runtime(self, runtime: AgentRuntime) -> None:
        self.__dict__["_bound_runtime"] = runtime

    @property
    def name(self) -> str:
        """This agent's ID: the `"alice"` of `get_agent(Counter, "alice")`."""
        return self._runtime.agent_id

    @property
    def state(self) -> Any:
        """The current state (a dict, or an instance of `State`)."""
        return self._runtime.get_state()

    def set_state(self, new: Any, *, source: Any = "server") -> None:
        """Replace the state. Validated now (`State`, `validate_state_change`); persisted at turn end."""
        self._runtime.set_state(new, source)

    def sql(self, query: str, *params: Any) -> list[dict[str, Any]]:
        """Run one SQL statement on this agent's own SQLite database; rows come back as dicts.

        Values fill `?` placeholders in order (`self.sql("... WHERE a = ? AND b = ?", 1, 2)`), or
        `:name` placeholders from one dict (`self.sql("... WHERE a = :a", {"a": 1})`). A dict
        together with other values is a TypeError.
        """
        return self._runtime.sql(query, _one_statement(params))

    def sql_many(self, query: str, rows: Iterable[SqlParams]) -> int:
        """Run one INSERT, UPDATE or DELETE once per row of values (each a tuple for `?`, or a dict
        for `:name`), like sqlite3's `executemany`. Returns the number of rows changed in all
        (sqlite3's `Cursor.rowcount`: rows that `INSERT OR IGNORE` skipped do not count). A query
        that returns rows is refused (`sqlite3.ProgrammingError`); a lone string or dict given as
        `rows` is a TypeError.
        """
        if isinstance(rows, str | bytes | Mapping):
            raise TypeError("sql_many() takes an iterable of rows (tuples or dicts), not a single row")
        return self._runtime.sql_many(query, _each_row(rows))

    async def destroy(self) -> None:
        """Delete this agent and its storage for good once the current turn ends."""
        self._runtime.request_destroy()

    # Scheduling: durable, stored in this agent's database, wakes a hibernated agent.

    async def schedule(
        self,
        when: float | datetime | str,
        method: str | Callable[..., Any],
        payload: Any = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> Schedule:
        """Run `method(payload)` later: `when` is a delay in seconds, an aware datetime, or a cron
        string (5 fields, or 6 with seconds first; prefix `CRON_TZ=Europe/Paris ` for a time zone).

        `method` is this agent's method, by name (`"notify"`) or bound (`self.notify`); only its
        name is stored. Anything else is refused with `InvalidScheduleError`, as for `queue`."""
        name = _own_method(self, method)
        created = self._runtime.scheduler.add(when, name, payload, retry or self.schedule_retry)
        self._runtime.emit("schedule:create", method=name, id=created.id, kind=created.kind)
        return created

    async def schedule_every(
        self,
        seconds: float,
        method: str | Callable[..., Any],
        payload: Any = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> Schedule:
        """Run `method(payload)` every `seconds`. Idempotent by (method, payload), so calling it
        in `on_start` on every wake adds nothing; runs never overlap (each is a turn)."""
        name = _own_method(self, method)
        return self._runtime.scheduler.add_every(seconds, name, payload, retry or self.schedule_retry)

    async def cancel_schedule(self, schedule_id: str) -> bool:
        """Delete a schedule; False if there was none with that ID."""
        return self._runtime.scheduler.cancel(schedule_id)

    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        return self._runtime.scheduler.get(schedule_id)

    async def list_schedules(self, *, method: str | None = None, kind: str | None = None) -> list[Schedule]:
        """Schedules, soonest first, optionally only those of one method or kind."""
        return self._runtime.scheduler.list(method, kind)

    async def queue(
        self, method: str | Callable[..., Any], payload: Any = None, *, retry: RetryPolicy | None = None
    ) -> str:
        """Append `method(payload)` to this agent's durable FIFO queue; it runs after the current
        turn, in order, retried on failure. `method` as for `schedule`. Returns the item's ID."""
        name = _own_method(self, method)
        item_id = self._runtime.scheduler.enqueue(name, payload, retry or self.schedule_retry)
        self._runtime.emit("queue:create", method=name, id=item_id)
        return item_id

    async def dequeue(self, item_id: str) -> bool:
        """Remove a queued item that has not run yet."""
        return self._runtime.scheduler.dequeue(item_id)

    async def list_queue(self) -> list[QueueItem]:
        return self._runtime.scheduler.list_queue()

    async def run_code(
        self,
        code: str,
        tools: Sequence[Callable[..., Any]] = (),
        language: Literal["typescript", "python"] = "typescript",
        limits: Limits | None = None,
    ) -> CodeResult:
        """Code Mode: run a model-written program in a sandbox (no network, files or environment;
        bounded CPU, memory and time) that may call only `tools`. Never raises: the outcome is a
        `CodeResult(result, error, logs)`. Tools that are this agent's methods run inside the
        current turn, so what they change is committed (or rolled back) with it."""
        from agents.codemode import run_code

        return await run_code(code, tools, language, limits)

    @functools.cached_property
    def mcp(self) -> McpClient:
        """This agent's client of remote MCP servers (`agents.mcp_client`): `await
        self.mcp.add_server(name, url, headers=...)`, then `list_tools`, `call_tool`,
        `read_resource`, `get_prompt`. Registrations are SQL of this agent (part of the turn);
        connections are opened per call and never checkpointed."""
        from agents.mcp_client import McpClient

        return McpClient(self)

    async def checkpoint(self) -> None:
        """Persist what the current turn changed so far; the turn goes on. For long-running work
        (a tool loop, a batch): a crash after this keeps those changes, and a later failure of
        the turn rolls back only to here."""
        await self._runtime.commit_progress()

    def run_durable(self, name: str) -> DurableJob:
        """A job whose finished steps are checkpointed as they finish (see `DurableJob`)."""
        return DurableJob(name, self._runtime)

    # Hooks: override what you need.

    async def on_start(self) -> None:
        """Runs after every activation, with state and SQL already restored."""

    def validate_state_change(self, new: Any, source: Any) -> None:
        """Raise to refuse a proposed state (the caller gets the error; state is unchanged)."""

    async def on_state_update(self, state: Any, source: Any) -> None:
        """Runs after a turn that changed state has been persisted."""

    async def on_recover(self, unfinished_jobs: list[str]) -> None:
        """Runs after `on_start` when a crash left durable jobs unfinished (names, oldest first)."""


def _one_statement(params: tuple[Any, ...]) -> SqlParams:
    """`sql()`'s values: the positional ones as given, or the one dict of named ones."""
    if len(params) == 1 and isinstance(params[0], Mapping):
        return params[0]
    if any(isinstance(value, Mapping) for value in params):
        raise TypeError("sql() takes values for `?` placeholders or one dict for `:name` ones, not both")
    return params


def _each_row(rows: Iterable[SqlParams]) -> Iterator[SqlParams]:
    """`rows`, refusing a string row (sqlite3 would bind its characters one by one)."""
    for row in rows:
        if isinstance(row, str | bytes):
            raise TypeError(f"a row of sql_many() is a tuple or a dict, not {type(row).__name__}")
        yield row


def _own_method(agent: Agent, method: str | Callable[..., Any]) -> str:
    """The name under which `method`, a name or a method bound to `agent`, can run later."""
    if isinstance(method, str):
        return method
    if inspect.ismethod(method) and method.__self__ is agent:
        name = method.__name__
        if getattr(type(agent), name, None) is method.__func__:  # the name runs this very method
            return name
    raise InvalidScheduleError(
        f'schedule or queue a method of this {type(agent).__name__}, as `self.x` or "x"; got {method!r}'
    )
