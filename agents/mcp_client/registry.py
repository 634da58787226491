"""The MCP servers an agent has registered: one row each in a table of its own SQLite database.

Rows are written through the agent's `sql`, so an `add_server` or `remove_server` is part of the
turn that made it (rolled back with it) and survives hibernation, crashes and restores like any
other SQL. The table is created by the first `add`; reads of an agent that never added a server
create nothing. Headers may hold secrets: they stay in this table and in the requests sent to
the server, and `McpServer` (what callers see) carries only their names.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agents.errors import InvalidMcpServerError, McpServerExistsError, UnknownMcpServerError

Sql = Callable[..., list[dict[str, Any]]]

_TABLE = """CREATE TABLE IF NOT EXISTS _mcp_servers(
    name TEXT PRIMARY KEY, url TEXT NOT NULL, headers TEXT NOT NULL, added REAL NOT NULL)"""
#: A server name prefixes its tools' names for a chat model (`name__tool`): keep it short and plain.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
#: An HTTP header name (RFC 9110 token).
_HEADER = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


@dataclass(frozen=True)
class McpServer:
    """A registered MCP server as callers see it: the names of its headers, never their values."""

    name: str
    url: str
    header_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Registration:
    """A registered server with its headers, for opening connections only (never returned)."""

    name: str
    url: str
    headers: dict[str, str]

    def __repr__(self) -> str:  # no secrets in logs or tracebacks
        return f"Registration(name={self.name!r}, url={self.url!r}, headers=<{len(self.headers)} hidden>)"

    def public(self) -> McpServer:
        return McpServer(self.name, self.url, tuple(self.headers))


class ServerRegistry:
    """Reads and writes the `_mcp_servers` table through an agent's `sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    def add(self, name: str, url: str, headers: Mapping[str, str] | None) -> Registration:
        """Register a server; refuses bad input and a name already taken."""
        registration = Registration(_valid_name(name), _valid_url(url), _valid_headers(headers or {}))
        self._sql(_TABLE)
        if self._sql("SELECT 1 FROM _mcp_servers WHERE name = ?", name):
            raise McpServerExistsError(f"an MCP server named {name!r} is registered already")
        self._sql(
            "INSERT INTO _mcp_servers(name, url, headers, added) VALUES (?, ?, ?, ?)",
            name,
            registration.url,
            json.dumps(registration.headers),
            time.time(),
        )
        return registration

    def remove(self, name: str) -> None:
        self.get(name)
        self._sql("DELETE FROM _mcp_servers WHERE name = ?", name)

    def get(self, name: str) -> Registration:
        rows = self._rows("WHERE name = ?", name) if isinstance(name, str) else []
        if not rows:
            raise UnknownMcpServerError(f"no MCP server named {name!r} is registered")
        return rows[0]

    def all(self) -> list[Registration]:
        """Every registered server, in the order they were added."""
        return self._rows("ORDER BY added, name")

    def _rows(self, where: str, *values: Any) -> list[Registration]:
        if not self._sql("SELECT 1 FROM sqlite_master WHERE name = '_mcp_servers'"):
            return []
        rows = self._sql(f"SELECT name, url, headers FROM _mcp_servers {where}", *values)
        return [Registration(r["name"], r["url"], json.loads(r["headers"])) for r in rows]


def _valid_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or "__" in name:
        raise InvalidMcpServerError(
            f"an MCP server name is a letter, then up to 31 letters, digits, '-' or '_' (no '__'): {name!r}"
        )
    return name


def _valid_url(url: Any) -> str:
    parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidMcpServerError("an MCP server URL is http:// or https:// with a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidMcpServerError("put credentials in `headers`, not in the MCP server URL")
    return url


def _valid_headers(headers: Any) -> dict[str, str]:
    if not isinstance(headers, Mapping):
        raise InvalidMcpServerError("MCP server headers are a mapping of names to values")
    for key, value in headers.items():  # the message names the header, never its value
        if not isinstance(key, str) or not _HEADER.fullmatch(key):
            raise InvalidMcpServerError(f"invalid header name {key!r}")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise InvalidMcpServerError(f"the value of header {key!r} must be a string on one line")
    return dict(headers)
