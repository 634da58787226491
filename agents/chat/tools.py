"""Tools a chat model may call: plain Python functions (sync or async) with type hints.
Sync functions run in a worker thread, so a slow one does not stall the agent's event loop.

The JSON schema the model sees comes from pydantic, built from the signature; the model's
arguments are validated against it before the call. Whatever goes wrong (bad arguments, an
exception in the tool) comes back as a tool result marked `is_error`, for the model to read.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import pydantic
import pydantic_core


@dataclass(frozen=True)
class ToolResult:
    """The text the model gets back from a call, and whether it reports a failure."""

    text: str
    is_error: bool = False


class ChatTool(Protocol):
    """What the tool loop needs of a tool: a `Tool`, or an MCP server's (`agents.chat.mcp`)."""

    @property
    def name(self) -> str: ...
    @property
    def needs_approval(self) -> bool: ...
    def schema(self) -> dict[str, Any]: ...
    async def run(self, arguments: str) -> ToolResult: ...


@dataclass(frozen=True)
class Tool:
    """A function the model may call. Build one with `tool(fn)` or `@tool(needs_approval=True)`."""

    name: str
    description: str
    function: Callable[..., Any]
    arguments: type[pydantic.BaseModel]
    #: Pause the turn until a person calls `approve(call_id)` or `reject(call_id, reason)`.
    needs_approval: bool = False

    def schema(self) -> dict[str, Any]:
        """The OpenAI-style tool declaration litellm passes to any provider."""
        parameters = self.arguments.model_json_schema()
        parameters.pop("title", None)
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": parameters},
        }

    async def run(self, arguments: str) -> ToolResult:
        """Validate the model's JSON arguments, call the function, and render its result as text."""
        try:
            values = self.arguments.model_validate_json(arguments or "{}")
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()
            )
            return ToolResult(f"invalid arguments for {self.name}: {problems}", is_error=True)
        kwargs = {name: getattr(values, name) for name in type(values).model_fields}
        try:
            if inspect.iscoroutinefunction(self.function):
                result = await self.function(**kwargs)
            else:  # in a thread: a slow tool must not stall the agent's event loop
                result = await asyncio.to_thread(self.function, **kwargs)
        except Exception as exc:
            return ToolResult(f"{self.name} failed: {type(exc).__name__}: {exc}", is_error=True)
        return ToolResult(_as_text(result))


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(pydantic_core.to_jsonable_python(value, fallback=repr))


def _arguments_model(function: Callable[..., Any], name: str) -> type[pydantic.BaseModel]:
    hints = typing.get_type_hints(function)
    fields: dict[str, Any] = {}
    for param in inspect.signature(function).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {name}: *args and **kwargs cannot be described to a model")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints.get(param.name, Any), default)
    return pydantic.create_model(f"{name}_arguments", **fields)


def tool(
    function: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    needs_approval: bool = False,
) -> Any:
    """Make a `Tool` of a function: `tool(fn)`, `@tool`, or `@tool(needs_approval=True)`.

    The description defaults to the docstring; parameter types come from the type hints.
    """

    def build(fn: Callable[..., Any]) -> Tool:
        tool_name = name or fn.__name__
        return Tool(
            name=tool_name,
            description=inspect.cleandoc(description or fn.__doc__ or tool_name),
            function=fn,
            arguments=_arguments_model(fn, tool_name),
            needs_approval=needs_approval,
        )

    return build(function) if function is not None else build


def toolset(tools: Iterable[Callable[..., Any] | Tool]) -> dict[str, Tool]:
    """Tools by name (plain functions are wrapped with `tool`); refuses duplicate names."""
    by_name: dict[str, Tool] = {}
    for item in tools:
        built = item if isinstance(item, Tool) else tool(item)
        if built.name in by_name:
            raise ValueError(f"two tools are named {built.name!r}")
        by_name[built.name] = built
    return by_name
