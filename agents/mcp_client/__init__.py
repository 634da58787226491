"""The MCP client inside every agent: `self.mcp`.

```python
class Researcher(Agent):
    @callable
    async def setup(self, token: str) -> None:
        auth = {"Authorization": f"Bearer {token}"}
        await self.mcp.add_server("docs", "https://mcp.example.com/mcp", headers=auth)

    @callable
    async def ask(self, q: str) -> str:
        return (await self.mcp.call_tool("docs", "search", {"query": q})).text
```

Servers are registered in the agent's own SQLite (part of the turn, durable); each call opens its
own Streamable HTTP session with the official SDK, within `Agent.mcp_timeout`. Failures are typed
`McpError`s (`agents.errors`). `ChatAgent` offers the servers' tools to its model as `server__tool`;
`await self.mcp.tools(server)` gives them to Code Mode.
"""

from __future__ import annotations

from agents.errors import (
    InvalidMcpArgumentsError,
    InvalidMcpServerError,
    McpArgumentsTooLargeError,
    McpCallFailedError,
    McpError,
    McpProtocolError,
    McpServerExistsError,
    McpServerUnavailableError,
    McpTimeoutError,
    UnknownMcpServerError,
    UnknownMcpToolError,
)
from agents.mcp_client.client import McpClient, McpTool, McpToolResult
from agents.mcp_client.registry import McpServer

__all__ = [
    "InvalidMcpArgumentsError",
    "InvalidMcpServerError",
    "McpArgumentsTooLargeError",
    "McpCallFailedError",
    "McpClient",
    "McpError",
    "McpProtocolError",
    "McpServer",
    "McpServerExistsError",
    "McpServerUnavailableError",
    "McpTimeoutError",
    "McpTool",
    "McpToolResult",
    "UnknownMcpServerError",
    "UnknownMcpToolError",
]
