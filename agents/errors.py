"""Every typed error ray-agents raises, each with a stable `code` (used on the wire) and an HTTP status.

All of them live here, so decoding a wire error never depends on which modules a process happened
to import: each `AgentError` subclass registers its `code` once, when it is defined
(`registered()`), and `agents.wire.errors` maps codes back to classes with that one table.
"""

from __future__ import annotations

from typing import Any, ClassVar

_REGISTRY: dict[str, type[AgentError]] = {}


class AgentError(Exception):
    """Base class of every error raised by ray-agents itself (never by user code)."""

    code: ClassVar[str] = "agent_error"
    status: int = 500
    #: True when the caller may retry the same call after re-resolving the agent.
    retriable: ClassVar[bool] = False

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            return  # a user subclass of a typed error keeps its parent's code
        known = _REGISTRY.get(cls.code)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise TypeError(f"error code {cls.code!r} is taken by {known.__qualname__}")
        _REGISTRY[cls.code] = cls

    @classmethod
    def from_wire(cls, message: str, status: int) -> AgentError:
        """Rebuild this error from its wire form (`code` chose the class)."""
        return cls(message)

    def __reduce__(self) -> tuple[Any, ...]:  # keep subclasses picklable across Ray
        return (type(self), (self.message,))


def registered() -> dict[str, type[AgentError]]:
    """Every error class by its wire code."""
    return dict(_REGISTRY)


_REGISTRY[AgentError.code] = AgentError

# ---- the agent and its calls -------------------------------------------------------------------


class InvalidAgentIdError(AgentError):
    """The agent ID is empty, too long, contains control characters or is not valid Unicode."""

    code, status = "invalid_agent_id", 400


class UnknownAgentClassError(AgentError):
    """No agent class is registered under that name."""

    code, status = "unknown_agent_class", 404


class UnknownMethodError(AgentError):
    """The agent class has no method of that name."""

    code, status = "unknown_method", 404


class NotCallableError(AgentError):
    """The method exists but is not marked `@callable`, so callers may not invoke it."""

    code, status = "not_callable", 403


class InvalidArgumentsError(AgentError):
    """The arguments do not match the method's signature or type hints."""

    code, status = "invalid_arguments", 422


class InvalidStateError(AgentError):
    """A new state failed validation or cannot be serialized; the old state is kept."""

    code, status = "invalid_state", 422


class ReadOnlyError(AgentError):
    """A read-only caller tried to change state."""

    code, status = "read_only", 403


class ReentrantCallError(AgentError):
    """A call chain came back to an agent that is already in a turn (A -> B -> A)."""

    code, status = "reentrant_call", 409


class StaleEpochError(AgentError):
    """A checkpoint was written by an activation that has since been replaced (a zombie)."""

    code, status = "stale_epoch", 409


class AgentUnavailableError(AgentError):
    """The activation that got the call is going away (hibernating, replaced, destroyed)."""

    code, status, retriable = "agent_unavailable", 503, True


class ResultNotKeptError(AgentError):
    """A call retried after a crash had already been applied, but its result was too large (or
    not picklable) to keep for retries. The change it made stands; it did not run twice."""

    code, status = "result_not_kept", 500


class ActivationError(AgentError):
    """The agent could not be started: its checkpoint could not be restored or `on_start` failed."""

    code, status = "activation_failed", 500


class RemoteError(AgentError):
    """User code raised an exception that could not be sent back as itself (not picklable)."""

    code, status = "remote_error", 500


class InvalidHostingError(AgentError):
    """An agent class or the deployment names a hosting mode that does not exist."""

    code, status = "invalid_hosting", 500


class HostFullError(AgentError):
    """No room for another live agent: a pooled host whose agents are all busy (none could be
    evicted), or every alive node at its cap of dedicated agents (`max_dedicated_per_node`)."""

    code, status, retriable = "host_full", 503, True


class StoreUnavailableError(AgentError):
    """The checkpoint store cannot be used: unreachable, refused the credentials, read-only (a
    replica given as the primary), or written by a newer version. Raised when it is opened,
    before anything is written."""

    code, status = "store_unavailable", 503


class StoreInterruptedError(StoreUnavailableError):
    """A store operation lost its connection midway (the server died or failed over, the
    network cut): nothing it wrote was acknowledged. Callers retry on a fresh activation."""

    code, retriable = "store_interrupted", True


class StoreFailedError(StoreUnavailableError):
    """The checkpoint store's disk refused an operation (full, read-only, an I/O error, a file of
    its own damaged). What the store held before stays as it was; a write that failed left nothing
    behind. The message names the agent, never the server's paths (its log has them)."""

    code = "store_failed"


class StoreMismatchError(AgentError):
    """This process chose a checkpoint store (`$RAY_AGENTS_STORE`, `configure(store=...)`) other
    than the one the namespace's running controller uses: one namespace has one store."""

    code, status = "store_mismatch", 500


class TypeNameCollisionError(AgentError):
    """Two different agent classes use one type name (`Agent.type_name`)."""

    code, status = "type_name_collision", 409

    @classmethod
    def between(cls, name: str, registered: str, other: str) -> TypeNameCollisionError:
        """The error for `other` (a qualified class name) claiming `name`, held by `registered`."""
        return cls(
            f"agent type {name!r} is {registered}; {other} cannot use it too: give one of them its own "
            f"`type_name` (a class attribute)"
        )


class CorruptCheckpointError(ActivationError):
    """A checkpoint read from the store is damaged: a chunk that does not match its hash (its
    name), or a manifest whose checksum fails or that does not decode. The agent is not started
    on different data; the message names its newest restore point with an intact manifest
    (`restore`)."""

    code, status = "checkpoint_corrupt", 500


class CheckpointNotFoundError(AgentError):
    """No restore point matches: the agent has no kept checkpoints, the time is outside its
    retention window (`checkpoint_retention`) or in the future, or no checkpoint has that number.
    Nothing was changed."""

    code, status = "checkpoint_not_found", 404


class AgentExistsError(AgentError):
    """`fork` onto an ID that already has an agent (live, or with a checkpoint). Nothing was changed."""

    code, status = "agent_exists", 409


class AgentDestroyedError(AgentError):
    """The agent was destroyed (`Agent.destroy`): its history went with it, so it cannot be
    restored or forked. Nothing was changed."""

    code, status = "agent_destroyed", 410


class InvalidScheduleError(AgentError):
    """A schedule or queue item was refused at creation time (nothing was stored)."""

    code, status = "invalid_schedule", 422


class RunEndedError(AgentError):
    """Work started for a Code Mode run touched its agent after the run had ended (a sync tool
    still running in its thread after a timeout). Refused: a run's tools change the agent only
    while the run lasts, inside the turn that started it."""

    code, status = "run_ended", 409


# ---- size limits (`agents.limits`) -------------------------------------------------------------


class StateTooLargeError(AgentError):
    """A turn made the state larger than the class's `max_state_bytes` (measured encoded, as it
    is checkpointed). Refused by `set_state`, or at the end of a turn that changed the state in
    place; the turn is rolled back like any failed turn."""

    code, status = "state_too_large", 413


class DatabaseFullError(AgentError):
    """A SQL statement would grow the agent's database past the class's `max_database_bytes`.
    SQLite may have undone the turn's earlier statements too, so the whole turn fails, even if
    the agent catches this; later writes that fit work as before."""

    code, status = "database_full", 507


class ChunkTooLargeError(AgentError):
    """A streaming method yielded an item larger than the class's `max_chunk_bytes` (as JSON, as
    clients get it). The stream ends with this error after the items before it; its turn is
    rolled back."""

    code, status = "chunk_too_large", 500


# ---- HTTP and WebSocket ------------------------------------------------------------------------


class RequestTooLargeError(AgentError):
    """An HTTP request body is larger than the ingress takes (`build_app(max_body_bytes=...)`);
    refused before any agent is reached."""

    code, status = "request_too_large", 413


class RouteNotFoundError(AgentError):
    """Nothing answers that path: no such page, or a request other than an RPC to an agent class
    that does not override `on_request`. Answered by the ingress, before any agent is reached."""

    code, status = "not_found", 404


class MethodNotAllowedError(AgentError):
    """`OPTIONS` to an agent path: the ingress answers CORS preflights itself (`build_app(cors=...)`),
    and agents never see the method."""

    code, status = "method_not_allowed", 405


class Rejected(AgentError):
    """Raise from `validate_request`, or from the ingress's gate (`build_app(on_before_request=...,
    on_before_connect=...)`), to refuse an HTTP request or a WebSocket connection.

    HTTP callers get `status`; WebSocket clients are closed with code 4000 + status.
    """

    code = "rejected"

    def __init__(self, status: int = 403, message: str = "rejected") -> None:
        super().__init__(message)
        self.status = status

    @classmethod
    def from_wire(cls, message: str, status: int) -> AgentError:
        return cls(status, message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.status, self.message))


class ConnectionInUseError(AgentError):
    """A connect named the ID of a connection that is open, without its resume token (from the
    `identity` frame): another client's connection is not taken over (close code 4409)."""

    code, status = "connection_in_use", 409


class UnknownConnectionError(AgentError):
    """The agent has no record of the connection (it was closed); the client should reconnect."""

    code, status = "unknown_connection", 410


class CallError(AgentError):
    """A call failed with an error that has no class of its own (e.g. `exception`: user code raised)."""

    def __init__(self, message: str = "", code: str = "exception", status: int = 500) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[misc]  # the wire code it came with
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.code, self.status))


class ConnectionLostError(AgentError):
    """The socket dropped while the call was in flight; it may or may not have run."""

    code, status, retriable = "connection_lost", 503, True


class ConnectionRefusedByAgent(AgentError):
    """The agent refused the connection (`validate_request`), or closed it for good."""

    code = "connection_refused"

    def __init__(self, message: str = "", status: int = 403) -> None:
        super().__init__(message)
        self.status = status

    @classmethod
    def from_wire(cls, message: str, status: int) -> AgentError:
        return cls(message, status)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.status))


# ---- chat --------------------------------------------------------------------------------------


class UnknownStreamError(AgentError):
    """No stream with that ID (or its chunks were dropped by retention)."""

    code, status = "unknown_stream", 404


class ApprovalPendingError(AgentError):
    """A tool call awaits approval: approve or reject it before sending a new message."""

    code, status = "approval_pending", 409


class UnknownApprovalError(AgentError):
    """No tool call with that ID awaits a decision."""

    code, status = "unknown_approval", 404


# ---- MCP client (`self.mcp`, `agents.mcp_client`) ------------------------------------------------


class McpError(AgentError):
    """An MCP server call failed; the subclasses say how. The message names the server, never
    its headers. Nothing the agent stores was changed by the failed call."""

    code, status = "mcp_error", 502


class InvalidMcpServerError(McpError):
    """`add_server` got a name, URL or headers it cannot register (nothing was stored)."""

    code, status = "invalid_mcp_server", 422


class McpServerExistsError(McpError):
    """`add_server` with a name this agent has registered already (remove it first)."""

    code, status = "mcp_server_exists", 409


class UnknownMcpServerError(McpError):
    """No MCP server of that name is registered on this agent."""

    code, status = "unknown_mcp_server", 404


class UnknownMcpToolError(McpError):
    """The MCP server does not list a tool of that name."""

    code, status = "unknown_mcp_tool", 404


class InvalidMcpArgumentsError(McpError):
    """Tool arguments that do not match the tool's input schema, checked before anything is sent."""

    code, status = "invalid_mcp_arguments", 422


class McpArgumentsTooLargeError(McpError):
    """Tool or prompt arguments larger than the class's `mcp_max_argument_bytes` (as JSON)."""

    code, status = "mcp_arguments_too_large", 413


class McpServerUnavailableError(McpError):
    """The MCP server could not be reached, or the connection broke (refused, reset, closed)."""

    code, status = "mcp_server_unavailable", 503


class McpTimeoutError(McpError):
    """The MCP server did not answer within the class's `mcp_timeout` (connecting included)."""

    code, status = "mcp_timeout", 504


class McpProtocolError(McpError):
    """The MCP server sent something that is not valid MCP (malformed JSON-RPC, a bad result)."""

    code, status = "mcp_protocol_error", 502


class McpCallFailedError(McpError):
    """The MCP server answered with an error: a JSON-RPC error, or a tool result marked `isError`."""

    code, status = "mcp_call_failed", 502


class McpAuthorizationRequiredError(McpError):
    """The MCP server wants OAuth and this agent holds no usable token for it: call
    `self.mcp.authorize(server)` and send the user to the URL it returns."""

    code, status = "mcp_authorization_required", 401


class McpAuthorizationFailedError(McpError):
    """An OAuth authorization did not complete: the authorization server refused it, the
    callback matched no authorization in progress, or the token exchange failed."""

    code, status = "mcp_authorization_failed", 400
