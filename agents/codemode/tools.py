"""Tool specs: argument validation, dispatch and result encoding for calls coming out of a sandbox.

Everything a sandbox sends is untrusted. A call names a tool (only the listed ones exist), carries
arguments (validated with pydantic against the tool's type hints, like any RPC), and gets back either
the JSON-encoded result or a `ToolCallError` message that the backend raises *inside* the program.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic
import pydantic_core

from agents.errors import InvalidArgumentsError
from agents.validation import ArgumentValidator


class ToolCallError(Exception):
    """A tool call the host refused or that failed; its message goes back into the program."""


@dataclass(frozen=True)
class ToolSpec:
    """One tool: the function, its validator, and the JSON schemas its declarations are generated from."""

    name: str
    function: Callable[..., Any]
    doc: str
    params_schema: dict[str, Any]
    returns_schema: dict[str, Any]
    validator: ArgumentValidator

    @classmethod
    def from_function(cls, function: Callable[..., Any]) -> ToolSpec:
        name = getattr(function, "__name__", "")
        if not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"tool {function!r} needs a public identifier as its name")
        for param in inspect.signature(function).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise ValueError(f"tool {name}() may not take *args or **kwargs")
        hints = typing.get_type_hints(function)
        returns = hints.get("return", Any)
        return cls(
            name=name,
            function=function,
            doc=inspect.cleandoc(function.__doc__ or ""),
            params_schema=pydantic.TypeAdapter(function).json_schema(),
            returns_schema=_named(pydantic.TypeAdapter(returns).json_schema(mode="serialization")),
            validator=ArgumentValidator(function),
        )

    def bind(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Validate and coerce arguments against the type hints, or raise ToolCallError."""
        try:
            return self.validator.validate(tuple(args), dict(kwargs))
        except InvalidArgumentsError as exc:
            raise ToolCallError(f"invalid arguments for {exc.message}") from None


def _named(schema: dict[str, Any]) -> dict[str, Any]:
    """A top-level model schema as a `$ref` into `$defs`, so declarations name it like a nested model."""
    if schema.get("type") != "object" or "properties" not in schema or "title" not in schema:
        return schema
    model = {k: v for k, v in schema.items() if k != "$defs"}
    return {"$ref": f"#/$defs/{model['title']}", "$defs": {**schema.get("$defs", {}), model["title"]: model}}


def as_specs(tools: Iterable[Callable[..., Any] | ToolSpec]) -> list[ToolSpec]:
    """ToolSpecs for a mix of plain functions (bound methods included) and ready specs."""
    return [t if isinstance(t, ToolSpec) else ToolSpec.from_function(t) for t in tools]


class ToolSet:
    """The tools one run may call, by name, with a budget of calls."""

    def __init__(self, tools: Sequence[Callable[..., Any] | ToolSpec], max_calls: int) -> None:
        self.specs: dict[str, ToolSpec] = {}
        for spec in as_specs(tools):
            if spec.name in self.specs:
                raise ValueError(f"two tools are named {spec.name!r}")
            self.specs[spec.name] = spec
        self._calls_left = max_calls

    async def call(self, name: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None) -> Any:
        """Run one call from the sandbox; return its JSON-able result or raise ToolCallError."""
        spec = self.specs.get(name)
        if spec is None:
            available = ", ".join(sorted(self.specs)) or "none"
            raise ToolCallError(f"unknown tool {name!r}; available: {available}")
        if self._calls_left <= 0:
            raise ToolCallError("tool call limit reached for this run")
        self._calls_left -= 1
        bound_args, bound_kwargs = spec.bind(args, kwargs or {})
        try:
            value = spec.function(*bound_args, **bound_kwargs)
            if inspect.isawaitable(value):
                value = await value
            return pydantic_core.to_jsonable_python(value)
        except Exception as exc:
            raise ToolCallError(f"{name}() failed: {type(exc).__name__}: {exc}") from None
