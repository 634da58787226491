"""Results and errors as they travel from an activation back to its caller.

An activation never lets an exception escape into Ray: it returns an `Outcome` holding either a
value or an error, so the caller re-raises the original exception type and message, without
Ray's wrapping, and Ray never counts a user error as an actor failure.
"""

from __future__ import annotations

import pickle
import traceback
from dataclasses import dataclass
from typing import Any

from ray import cloudpickle

from agents.errors import AgentError, RemoteError


@dataclass(frozen=True)
class Outcome:
    """A call's value, or its error; `end` marks the last item of a stream."""

    value: Any = None
    error: BaseException | None = None
    end: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def retriable(self) -> bool:
        """Whether the caller may retry the call on a fresh activation (it did not take effect)."""
        return isinstance(self.error, AgentError) and self.error.retriable

    def unwrap(self) -> Any:
        """The value, or raise the error."""
        if self.error is not None:
            raise self.error
        return self.value


#: The last item of every stream that finished without an error.
END_OF_STREAM = Outcome(end=True)


def success(value: Any) -> Outcome:
    return Outcome(value=value)


def failure(exc: BaseException) -> Outcome:
    """Wrap an exception; fall back to RemoteError when it cannot cross a process boundary."""
    remote_tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        clone = pickle.loads(cloudpickle.dumps(exc))
    except Exception:
        clone = RemoteError(f"{type(exc).__qualname__}: {exc}")
    if hasattr(clone, "add_note"):
        clone.add_note(f"Raised inside the agent:\n{remote_tb}")
    return Outcome(error=clone)


def encode_call(call: tuple[Any, ...]) -> bytes:
    """The hot path's one argument: a call as bytes. Ray serializes each argument of an actor
    call on its own, and one bytes argument (and a bytes reply) costs least (bench_density).
    Plain pickle when the call holds only built-in values (8x faster than cloudpickle here);
    cloudpickle otherwise, which also sends a caller's `__main__` classes by value."""
    return pickle.dumps(call, protocol=5) if _plain(call) else cloudpickle.dumps(call)


def decode_call(data: bytes) -> tuple[Any, ...]:
    return pickle.loads(data)


def encode(outcome: Outcome) -> bytes:
    """An outcome as bytes: the hot path's reply, and the checkpoint's result table (idempotent
    retries). Plain pickle where it can (3x faster); cloudpickle where only it can: values of
    classes that came by value have no importable home, so pickle refuses them."""
    try:
        return pickle.dumps(outcome, protocol=5)
    except Exception:
        return cloudpickle.dumps(outcome)


def decode(data: bytes) -> Outcome:
    """Inverse of `encode`; also reads the `("ok", value)` / `("err", exc)` tuples of older checkpoints."""
    value = pickle.loads(data)
    if isinstance(value, tuple):
        kind, payload = value
        return Outcome(value=payload) if kind == "ok" else Outcome(error=payload)
    return value


_SCALARS = frozenset({type(None), bool, int, float, str, bytes})
#: Containers deeper or longer than this are sent with cloudpickle without looking further.
_PLAIN_DEPTH, _PLAIN_LENGTH = 4, 64


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether `value` is built of built-in scalars, tuples, lists and dicts only (which plain
    pickle sends exactly as cloudpickle would)."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if depth >= _PLAIN_DEPTH or kind not in (tuple, list, dict) or len(value) > _PLAIN_LENGTH:
        return False
    if kind is dict:
        return all(type(k) in _SCALARS and _plain(v, depth + 1) for k, v in value.items())
    return all(_plain(v, depth + 1) for v in value)
