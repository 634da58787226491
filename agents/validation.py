"""Argument validation against a function's signature and type hints, shared by RPC and Code Mode tools."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

import pydantic
import pydantic_core

from agents.errors import InvalidArgumentsError


def _strict(adapter: pydantic.TypeAdapter[Any], value: Any) -> Any:
    """`value` as the type, without coercion between JSON's types (`"0"` or `false` is no
    `int`, `1` is no `str`): pydantic's strict mode, taking values as JSON carries them too
    (an ISO string for a datetime, a list for a tuple, an enum's value)."""
    try:
        return adapter.validate_python(value, strict=True)
    except pydantic.ValidationError as exc:
        try:
            as_json = pydantic_core.to_json(value)
        except pydantic_core.PydanticSerializationError:
            raise exc from None
        return adapter.validate_json(as_json, strict=True)


def _default(param: inspect.Parameter) -> dict[str, Any]:
    """`{"default": value}` for a schema, when the parameter has one JSON can carry."""
    if param.default is param.empty:
        return {}
    try:
        return {"default": pydantic_core.to_jsonable_python(param.default)}
    except pydantic_core.PydanticSerializationError:
        return {}


class ArgumentValidator:
    """Checks call arguments against a function's signature and type hints with pydantic, in
    strict mode (`_strict`).

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
        self._params = params
        #: Parameters a call must give (no default, not *args/**kwargs): without any, a call
        #: with no arguments is valid as it is (the common read: `get()`).
        self._required = any(
            p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params
        )

    def json_schema(self) -> dict[str, Any]:
        """The keyword arguments as one JSON Schema object, from the same type hints `validate`
        checks (what MCP's `inputSchema` is). Parameters that cannot be passed by name
        (positional-only, `*args`) are left out; `**kwargs` allows other names."""
        named = [p for p in self._params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        rest = next((p for p in self._params if p.kind is p.VAR_KEYWORD), None)
        typed = [p for p in [*named, *([rest] if rest else [])] if p.name in self._adapters]
        schemas, definitions = pydantic.TypeAdapter.json_schemas(
            [(p.name, "validation", self._adapters[p.name]) for p in typed]
        )
        by_name = {p.name: schemas[(p.name, "validation")] for p in typed}
        properties = {p.name: {**by_name.get(p.name, {}), **_default(p)} for p in named}
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        required = [p.name for p in named if p.default is p.empty]
        if required:
            schema["required"] = required
        schema["additionalProperties"] = by_name.get(rest.name, True) if rest else False
        return schema | definitions

    def validate(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if not args and not kwargs and not self._required:
            return args, kwargs
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
                    bound.arguments[name] = tuple(_strict(adapter, v) for v in value)
                elif kind is inspect.Parameter.VAR_KEYWORD:
                    bound.arguments[name] = {k: _strict(adapter, v) for k, v in value.items()}
                else:
                    bound.arguments[name] = _strict(adapter, value)
            except pydantic.ValidationError as exc:
                problems = "; ".join(e["msg"] for e in exc.errors())
                raise InvalidArgumentsError(
                    f"{self._name}(): argument {name!r} is invalid: {problems}"
                ) from None
        return bound.args, bound.kwargs
