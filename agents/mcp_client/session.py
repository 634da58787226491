"""One exchange with an MCP server: connect (Streamable HTTP), run some requests, disconnect.

Each exchange opens its own session with the official SDK (`mcp.client`): nothing about a
connection outlives the call that needed it, so there is nothing to checkpoint, nothing to go
stale across hibernation or a crash, and a server that died or restarted costs one failed call.
The whole exchange, connecting included, is bounded by one timeout. Whatever goes wrong comes out
as one typed `McpError` naming the server (never its headers), so the agent's turn can catch it
or let it roll back, and the agent keeps serving.

The SDK (~0.7 s to import) is imported on the first exchange, off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from agents.errors import (
    McpAuthorizationFailedError,
    McpCallFailedError,
    McpError,
    McpProtocolError,
    McpServerUnavailableError,
    McpTimeoutError,
)
from agents.mcp_client.registry import Registration

T = TypeVar("T")
#: Longest server-supplied text an error message quotes.
_QUOTE_CHARS = 300


def _import_sdk() -> Any:
    import httpx2
    import mcp.client.client
    import mcp.client.streamable_http

    return httpx2, mcp.client.client.Client, mcp.client.streamable_http.streamable_http_client


async def exchange(
    server: Registration, timeout_s: float, work: Callable[[Any], Awaitable[T]], auth: Any = None
) -> T:
    """Open a session with `server`, `await work(client)` (an `mcp.client.Client`), and close it,
    all within `timeout_s`; every failure is an `McpError`. `auth` is an httpx auth (OAuth)."""
    import anyio

    httpx2, client_class, transport = await asyncio.to_thread(_import_sdk)
    try:
        with anyio.fail_after(timeout_s):
            http = httpx2.AsyncClient(headers=server.headers, timeout=timeout_s, auth=auth)
            async with http, client_class(transport(server.url, http_client=http), cache=None) as client:
                return await work(client)
    except Exception as exc:  # the SDK's task groups wrap errors in ExceptionGroups
        raise typed_error(exc, server.name, timeout_s) from None


def typed_error(exc: BaseException, server: str, timeout_s: float) -> McpError:
    """The `McpError` that says what `exc`, raised during an exchange with `server`, means."""
    import httpx2
    import pydantic
    from mcp.client.auth import OAuthFlowError
    from mcp.shared.exceptions import MCPError
    from mcp_types import CONNECTION_CLOSED, INVALID_REQUEST, PARSE_ERROR

    leaf = _first_leaf(exc)
    if isinstance(leaf, McpError):
        return leaf
    if isinstance(leaf, OAuthFlowError):
        return McpAuthorizationFailedError(f"OAuth with MCP server {server!r} failed: {_quote(leaf)}")
    if isinstance(leaf, TimeoutError | httpx2.TimeoutException):
        return McpTimeoutError(f"MCP server {server!r} did not answer within {timeout_s:g} s")
    if isinstance(leaf, httpx2.HTTPError | OSError) or (
        isinstance(leaf, MCPError) and leaf.code == CONNECTION_CLOSED
    ):
        return McpServerUnavailableError(f"MCP server {server!r} is unreachable: {_quote(leaf)}")
    if isinstance(leaf, pydantic.ValidationError) or (
        isinstance(leaf, MCPError) and leaf.code in (PARSE_ERROR, INVALID_REQUEST)
    ):
        return McpProtocolError(f"MCP server {server!r} sent an invalid message: {_quote(leaf)}")
    if isinstance(leaf, MCPError):
        return McpCallFailedError(f"MCP server {server!r} answered with an error: {_quote(leaf)}")
    return McpError(f"MCP exchange with {server!r} failed: {type(leaf).__name__}: {_quote(leaf)}")


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _quote(exc: BaseException) -> str:
    text = (str(exc) or type(exc).__name__).splitlines()[0]
    return text if len(text) <= _QUOTE_CHARS else text[: _QUOTE_CHARS - 3] + "..."
