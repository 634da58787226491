"""Results and errors as they travel from an activation back to its caller.

An activation never lets an exception escape into Ray: it returns `("ok", value)` or
`("err", exception)`, so the caller re-raises the original exception type and message, without
Ray's wrapping, and Ray never counts a user error as an actor failure.
"""

from __future__ import annotations

import pickle
import traceback
from typing import Any

from ray import cloudpickle

from agents.errors import RemoteError

Outcome = tuple[str, Any]


def success(value: Any) -> Outcome:
    return ("ok", value)


def failure(exc: BaseException) -> Outcome:
    """Wrap an exception; fall back to RemoteError when it cannot cross a process boundary."""
    remote_tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        clone = pickle.loads(cloudpickle.dumps(exc))
    except Exception:
        clone = RemoteError(f"{type(exc).__qualname__}: {exc}")
    if hasattr(clone, "add_note"):
        clone.add_note(f"Raised inside the agent:\n{remote_tb}")
    return ("err", clone)


def unwrap(outcome: Outcome) -> Any:
    """Return the value or raise the error."""
    kind, value = outcome
    if kind == "ok":
        return value
    raise value


def pack(outcome: Outcome) -> bytes:
    """Bytes for the checkpoint's result table (idempotent retries)."""
    return cloudpickle.dumps(outcome)


def unpack(data: bytes) -> Outcome:
    return pickle.loads(data)
