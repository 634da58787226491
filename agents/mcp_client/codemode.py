"""An MCP server's tools as Code Mode tools: `ToolSpec`s whose declarations come from the
server's JSON schemas and whose calls go through `McpClient.call_tool`.

A tool takes named arguments only (TypeScript passes one object anyway), checked against its
input schema before the call; it returns the structured content when the server declares an
output schema, else the text of its result.
"""

from __future__ import annotations

import keyword
import logging
import re
from typing import TYPE_CHECKING, Any

from agents.codemode.tools import ToolSpec
from agents.errors import InvalidArgumentsError, InvalidMcpArgumentsError

if TYPE_CHECKING:
    from agents.mcp_client.client import McpClient, McpTool

log = logging.getLogger(__name__)


class _SchemaValidator:
    """Named arguments only, checked against the tool's input schema (a Code Mode `Validator`)."""

    def __init__(self, tool: McpTool, name: str) -> None:
        self._tool = tool
        self._name = name

    def validate(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if args:
            raise InvalidArgumentsError(f"{self._name}(): pass named arguments only")
        try:
            self._tool.check(kwargs)
        except InvalidMcpArgumentsError as exc:
            raise InvalidArgumentsError(f"{self._name}(): {exc.message}") from None
        return (), kwargs


def tool_specs(client: McpClient, tools: list[McpTool]) -> list[ToolSpec]:
    """One ToolSpec per tool whose name maps to a Python identifier (others are skipped, logged)."""
    specs = []
    for tool in tools:
        name = re.sub(r"\W", "_", tool.name)
        if not name.isidentifier() or name.startswith("_") or keyword.iskeyword(name):
            log.warning("MCP tool %s/%s has no usable Code Mode name; left out", tool.server, tool.name)
            continue
        specs.append(
            ToolSpec(
                name=name,
                function=_caller(client, tool),
                doc=tool.description,
                params_schema=_without_dialect(tool.input_schema),
                returns_schema=_without_dialect(tool.output_schema or {}),
                validator=_SchemaValidator(tool, name),
            )
        )
    return specs


def _caller(client: McpClient, tool: McpTool) -> Any:
    async def call(**arguments: Any) -> Any:
        result = await client.call_tool(tool.server, tool.name, arguments)
        return result.structured if tool.output_schema else result.text

    return call


def _without_dialect(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != "$schema"}
