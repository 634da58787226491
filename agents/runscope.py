"""The lifetime of one Code Mode run, which the work of its tools must not outlive.

A run's tools run in a context that carries its `RunScope`. While the scope is open, an agent
reached from that context (`Agent._runtime`) works as usual, but every call into the runtime made
from another thread (a sync tool runs in a worker thread) is handed to the event loop and runs
there, checked and applied in one step. Once the run ends the scope is closed, and any such call
raises `RunEndedError`: a sync tool that cannot be stopped (a thread cannot be killed) may keep
running, but nothing it does can reach the agent, its turn, or the next one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
from collections.abc import Callable
from typing import Any

from agents.errors import RunEndedError

_PLAIN = (str, bytes, int, float, bool, type(None))


class RunScope:
    """Open while its run lasts; closed (for good) when the run ends."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.open = True

    def close(self) -> None:
        self.open = False

    def check(self) -> None:
        if not self.open:
            raise RunEndedError("this Code Mode run has ended: its tools can no longer reach the agent")

    def call(self, function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """`function(*args, **kwargs)` on the scope's event loop, if the scope is still open then."""

        def checked() -> Any:
            self.check()
            return function(*args, **kwargs)

        self.check()
        if _running_loop() is self.loop:
            return checked()
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()
        context = contextvars.copy_context()

        def on_loop() -> None:
            try:
                done.set_result(context.run(checked))
            except BaseException as exc:
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(on_loop)
        return done.result()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


current: contextvars.ContextVar[RunScope | None] = contextvars.ContextVar("codemode_run", default=None)


def guarded(target: Any) -> Any:
    """`target` itself outside any run; inside one, a view of it whose calls go through the scope."""
    scope = current.get()
    return target if scope is None else _Guarded(target, scope)


class _Guarded:
    """Attribute access and calls on `target`, checked against (and run on the loop of) a scope."""

    __slots__ = ("_scope", "_target")

    def __init__(self, target: Any, scope: RunScope) -> None:
        self._target = target
        self._scope = scope

    def __getattr__(self, name: str) -> Any:
        self._scope.check()
        value = getattr(self._target, name)
        if isinstance(value, _PLAIN):
            return value
        if callable(value):
            return functools.partial(self._scope.call, value)
        return _Guarded(value, self._scope)
