"""`@callable` marks the agent methods callers may invoke, `@prompt` the prompts its MCP endpoint
offers (the runtime builds its method table from both)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__agent_callable__"


@dataclass(frozen=True)
class CallableOptions:
    """What `@callable(...)` said about a method."""

    readonly: bool = False
    finish_on_disconnect: bool = False
    mcp: bool = False
    #: An MCP prompt (`@prompt`): run only by `prompts/get`, never as RPC or over WebSocket.
    prompt: bool = False


@overload
def callable(
    fn: F, /, *, readonly: bool = False, finish_on_disconnect: bool = False, mcp: bool = False
) -> F: ...
@overload
def callable(
    fn: None = None, /, *, readonly: bool = False, finish_on_disconnect: bool = False, mcp: bool = False
) -> Callable[[F], F]: ...
def callable(
    fn: F | None = None, /, *, readonly: bool = False, finish_on_disconnect: bool = False, mcp: bool = False
) -> F | Callable[[F], F]:
    """Mark an agent method as invocable by callers (handles, HTTP, WebSocket). It returns the
    method itself, so type checkers keep its signature (see `get_agent` for typed handles).

    `readonly=True` promises the method does not change state; read-only connections may call it,
    and the runtime refuses the turn if it does change state.

    `finish_on_disconnect=True` (streaming methods): when the WebSocket that started the call
    drops, the call runs to its end (its items are dropped) instead of being cancelled, so its
    work is kept for a client that reconnects (e.g. `ChatAgent.resume`). A `cancel` frame still
    stops it.

    `mcp=True` also offers the method as a tool on the agent's MCP endpoint
    (`/agents/{type}/{id}/mcp`): its docstring is the tool's description, its type hints the
    input schema.
    """

    def mark(f: F) -> F:
        options = CallableOptions(readonly=readonly, finish_on_disconnect=finish_on_disconnect, mcp=mcp)
        setattr(f, _MARK, options)
        return f

    return mark(fn) if fn is not None else mark


def prompt(fn: F, /) -> F:
    """Offer an agent method as a prompt on its MCP endpoint (`prompts/list`, `prompts/get`): the
    prompt is named after the method, its docstring is the description, and its keyword
    arguments are the prompt's (strings; required when they have no default).

    It returns one user message as a `str`, or a list of messages, each a dict
    `{"role": "user" | "assistant", "content": str}`. It runs as a read-only turn: it may read
    state and SQL, and a change fails the request. Prompts are not callable as RPC, over
    WebSocket or from handles.
    """
    if inspect.isasyncgenfunction(fn):
        raise TypeError(f"@prompt {fn.__qualname__} returns its messages; it may not stream them")
    setattr(fn, _MARK, CallableOptions(readonly=True, prompt=True))
    return fn


def callable_options(function: object) -> CallableOptions | None:
    """What `@callable` (or `@prompt`) said about a function, or None if it is not marked."""
    options = getattr(function, _MARK, None)
    return options if isinstance(options, CallableOptions) else None
