"""Typed errors a caller can catch. Each carries a stable `code` (used on the wire) and an HTTP status."""

from __future__ import annotations


class AgentError(Exception):
    """Base class of every error raised by ray-agents itself (never by user code)."""

    code: str = "agent_error"
    status: int = 500
    #: True when the caller may retry the same call after re-resolving the agent.
    retriable: bool = False

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self):  # keep subclasses picklable across Ray
        return (type(self), (self.message,))


class InvalidAgentIdError(AgentError):
    """The agent ID is empty, too long or contains control characters."""

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
