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

An OAuth server is added with `oauth_callback=` (the Serve app's public URL): `url = await
self.mcp.authorize(name)` gives the page to send the user to; their return through the app
completes it, and the tokens stay in the agent's SQLite (refreshed as they expire).

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
    McpAuthorizationFailedError,
    McpAuthorizationRequiredError,
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
    "McpAuthorizationFailedError",
    "McpAuthorizationRequiredError",
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
