"""The per-class method table: what callers may invoke on an agent class, and how to check the call."""

from __future__ import annotations

import collections.abc
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agents.errors import NotCallableError, UnknownMethodError
from agents.methods import callable_options
from agents.validation import ArgumentValidator


@dataclass(frozen=True)
class MethodSpec:
    """A callable method: how to invoke it and how to check its arguments."""

    name: str
    function: Callable[..., Any]
    readonly: bool
    streaming: bool
    validator: ArgumentValidator
    #: Keep running when the WebSocket that started the call drops (see `callable`).
    finish_on_disconnect: bool = False
    #: Offered as a tool on the agent's MCP endpoint (see `callable`).
    mcp: bool = False
    #: An MCP prompt (see `prompt`): only the agent's MCP endpoint runs it.
    prompt: bool = False

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Validate and coerce arguments against the type hints; raise InvalidArgumentsError."""
        return self.validator.validate(args, kwargs)

    def result_type(self) -> Any | None:
        """The type hint of what a call gives: its result, or for a streaming method each item
        (`Any` for a bare `AsyncIterator`); None without a return type hint (or one that does
        not resolve, which validation leaves unchecked too). MCP's `outputSchema` and the
        TypeScript types (`ray-agents types`) both start from it."""
        try:
            returns = typing.get_type_hints(self.function).get("return")
        except Exception:
            return None
        if returns is None or not self.streaming:
            return returns
        origin, item = typing.get_origin(returns), typing.get_args(returns)
        iterator = origin is not None and issubclass(origin, collections.abc.AsyncIterator)
        return item[0] if iterator and item else Any


@functools.cache
def method_table(agent_cls: type) -> dict[str, MethodSpec]:
    """Every `@callable` and `@prompt` method of an agent class (inherited ones included), by name."""
    table: dict[str, MethodSpec] = {}
    for name in dir(agent_cls):
        if name.startswith("_"):
            continue
        function = inspect.getattr_static(agent_cls, name, None)
        options = callable_options(function)
        if options is None:
            continue
        table[name] = MethodSpec(
            name=name,
            function=function,
            readonly=options.readonly,
            streaming=inspect.isasyncgenfunction(function),
            validator=ArgumentValidator(function, drop_self=True),
            finish_on_disconnect=options.finish_on_disconnect,
            mcp=options.mcp,
            prompt=options.prompt,
        )
    return table


def lookup_method(agent_cls: type, name: str, *, prompts: bool = False) -> MethodSpec:
    """The spec of a callable method, or a clear error saying why it cannot be called. A prompt
    is an unknown method to callers (RPC, WebSocket, handles); `prompts=True` is the agent's own
    view, which runs what its ingress sends it (the MCP endpoint's `prompts/get`)."""
    spec = method_table(agent_cls).get(name)
    if spec is not None and (prompts or not spec.prompt):
        return spec
    if spec is None and hasattr(agent_cls, name):
        raise NotCallableError(f"{agent_cls.__name__}.{name} is not marked @callable")
    raise UnknownMethodError(f"{agent_cls.__name__} has no callable method {name!r}")
