"""MCP tool descriptions of an agent class's `@callable(mcp=True)` methods, and tool results.

A tool is named after its method; its description is the docstring, its `inputSchema` comes
from the type hints RPC validation checks (`ArgumentValidator.json_schema`), `readOnlyHint` from
`readonly=`. With a return type hint it declares an `outputSchema` and results carry
`structuredContent`: the value itself when it is a JSON object, else `{"result": value}` (MCP
wants an object there). A streaming method's result is the list of its items.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import mcp_types as types
import pydantic
from mcp.shared.exceptions import MCPError

from agents.errors import AgentError
from cluster.methods import MethodSpec, method_table
from serve.http import jsonable

T = TypeVar("T")
#: The dialect pydantic writes, declared as MCP (2025-11-25) asks.
JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class McpTool:
    """One tool: its description and the method it calls."""

    spec: MethodSpec
    tool: types.Tool
    #: Structured results are `{"result": value}` (the method's result is no JSON object).
    wrapped: bool

    def result(self, value: Any) -> types.CallToolResult:
        """A call's value as text (a string as it is, else its JSON), and as structured content
        when the tool has a schema."""
        value = jsonable(value)
        structured = None
        if self.tool.output_schema is not None:
            structured = {"result": value} if self.wrapped else value
        text = types.TextContent(text=value if isinstance(value, str) else json.dumps(value))
        return types.CallToolResult(content=[text], structured_content=structured)


@functools.cache
def tools(agent_cls: type) -> dict[str, McpTool]:
    """The class's MCP tools by name (none: the class has no MCP endpoint)."""
    return {name: _tool(spec) for name, spec in method_table(agent_cls).items() if spec.mcp}


def lookup_tool(agent_cls: type, name: str) -> McpTool:
    """The tool of that name, or the JSON-RPC error MCP specifies for an unknown one."""
    return known(tools(agent_cls), "tool", name)


def known(entries: Mapping[str, T], kind: str, name: str) -> T:
    """`entries[name]`, or MCP's JSON-RPC error for an unknown `kind` (tool, prompt) of that name."""
    found = entries.get(name)
    if found is None:
        raise MCPError(types.INVALID_PARAMS, f"Unknown {kind}: {name}")
    return found


def error_text(exc: BaseException) -> str:
    """A failure as HTTP RPC would answer it: the agent's error code and message."""
    if isinstance(exc, AgentError):
        return f"{exc.code}: {exc.message or exc}"
    return f"exception: {type(exc).__name__}: {exc}"


def error_result(exc: BaseException) -> types.CallToolResult:
    """A failed call as MCP reports tool errors (`isError`, for the model to read)."""
    return types.CallToolResult(content=[types.TextContent(text=error_text(exc))], is_error=True)


def _tool(spec: MethodSpec) -> McpTool:
    schema = _return_schema(spec)
    wrapped = schema is not None and schema.get("type") != "object"
    if schema is not None and wrapped:
        definitions = {"$defs": schema.pop("$defs")} if "$defs" in schema else {}
        schema = {"type": "object", "properties": {"result": schema}, "required": ["result"], **definitions}
    tool = types.Tool(
        name=spec.name,
        description=inspect.getdoc(spec.function),
        input_schema={"$schema": JSON_SCHEMA, **spec.validator.json_schema()},
        output_schema=schema,
        annotations=types.ToolAnnotations(read_only_hint=spec.readonly),
    )
    return McpTool(spec, tool, wrapped)


def _return_schema(spec: MethodSpec) -> dict[str, Any] | None:
    """The JSON Schema of the method's result (a stream's: the list of its items), or None
    without a return type hint."""
    returns = spec.result_type()
    if returns is None:
        return None
    if spec.streaming:
        returns = list[returns]  # type: ignore[valid-type]
    return pydantic.TypeAdapter(returns).json_schema(mode="serialization")
