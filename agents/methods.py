"""`@callable` and the per-class table of what callers may invoke, with argument validation."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pydantic

from agents.errors import InvalidArgumentsError, NotCallableError, UnknownMethodError

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__agent_callable__"


@dataclass(frozen=True)
class CallableOptions:
    """What `@callable(...)` said about a method."""

    readonly: bool = False
    finish_on_disconnect: bool = False


def callable(fn: F | None = None, *, readonly: bool = False, finish_on_disconnect: bool = False) -> Any:
    """Mark an agent method as invocable by callers (handles, HTTP, WebSocket).

    `readonly=True` promises the method does not change state; read-only connections may call it,
    and the runtime refuses the turn if it does change state.

    `finish_on_disconnect=True` (streaming methods): when the WebSocket that started the call
    drops, the call runs to its end (its items are dropped) instead of being cancelled, so its
    work is kept for a client that reconnects (e.g. `ChatAgent.resume`). A `cancel` frame still
    stops it.
    """

    def mark(f: F) -> F:
        setattr(f, _MARK, CallableOptions(readonly=readonly, finish_on_disconnect=finish_on_disconnect))
        return f

    return mark(fn) if fn is not None else mark


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

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Validate and coerce arguments against the type hints; raise InvalidArgumentsError."""
        return self.validator.validate(args, kwargs)


class ArgumentValidator:
    """Checks call arguments against a function's signature and type hints with pydantic.

    `drop_self` for a function defined in a class (its first parameter is the instance); plain
    functions and bound methods keep every parameter.
    """

    def __init__(self, function: Callable[..., Any], *, drop_self: bool = False) -> None:
        self._name = function.__name__
        signature = inspect.signature(function)
        params = list(signature.parameters.values())[1 if drop_self else 0 :]
        self._signature = signature.replace(parameters=params)
        try:
            hints = typing.get_type_hints(function)
        except Exception:  # unresolved forward references: fall back to no checking for those
            hints = {}
        self._adapters = {p.name: pydantic.TypeAdapter(hints[p.name]) for p in params if p.name in hints}
        self._kinds = {p.name: p.kind for p in params}

    def validate(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidArgumentsError(f"{self._name}(): {exc}") from None
        for name, value in bound.arguments.items():
            adapter = self._adapters.get(name)
            if adapter is None:
                continue
            kind = self._kinds[name]
            try:
                if kind is inspect.Parameter.VAR_POSITIONAL:
                    bound.arguments[name] = tuple(adapter.validate_python(v) for v in value)
                elif kind is inspect.Parameter.VAR_KEYWORD:
                    bound.arguments[name] = {k: adapter.validate_python(v) for k, v in value.items()}
                else:
                    bound.arguments[name] = adapter.validate_python(value)
            except pydantic.ValidationError as exc:
                problems = "; ".join(e["msg"] for e in exc.errors())
                raise InvalidArgumentsError(
                    f"{self._name}(): argument {name!r} is invalid: {problems}"
                ) from None
        return bound.args, bound.kwargs


@functools.cache
def method_table(agent_cls: type) -> dict[str, MethodSpec]:
    """Every `@callable` method of an agent class (inherited ones included), by name."""
    table: dict[str, MethodSpec] = {}
    for name in dir(agent_cls):
        if name.startswith("_"):
            continue
        function = inspect.getattr_static(agent_cls, name, None)
        options = getattr(function, _MARK, None)
        if not isinstance(options, CallableOptions):
            continue
        table[name] = MethodSpec(
            name=name,
            function=function,
            readonly=options.readonly,
            streaming=inspect.isasyncgenfunction(function),
            validator=ArgumentValidator(function, drop_self=True),
            finish_on_disconnect=options.finish_on_disconnect,
        )
    return table


def lookup_method(agent_cls: type, name: str) -> MethodSpec:
    """The spec of a callable method, or a clear error saying why it cannot be called."""
    spec = method_table(agent_cls).get(name)
    if spec is not None:
        return spec
    if hasattr(agent_cls, name):
        raise NotCallableError(f"{agent_cls.__name__}.{name} is not marked @callable")
    raise UnknownMethodError(f"{agent_cls.__name__} has no callable method {name!r}")
