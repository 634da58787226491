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
#: OAuth servers' redirect URIs, and what their authorization servers issued (`agents.mcp_client.oauth`).
_OAUTH_TABLE = """CREATE TABLE IF NOT EXISTS _mcp_oauth(
    name TEXT PRIMARY KEY, redirect_uri TEXT NOT NULL, client_info TEXT, tokens TEXT)"""
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
    #: Where the server's authorization server sends the user back (OAuth servers only).
    redirect_uri: str | None = None


@dataclass(frozen=True)
class Registration:
    """A registered server with its headers, for opening connections only (never returned)."""

    name: str
    url: str
    headers: dict[str, str]
    redirect_uri: str | None = None

    def __repr__(self) -> str:  # no secrets in logs or tracebacks
        return f"Registration(name={self.name!r}, url={self.url!r}, headers=<{len(self.headers)} hidden>)"

    def public(self) -> McpServer:
        return McpServer(self.name, self.url, tuple(self.headers), self.redirect_uri)


class ServerRegistry:
    """Reads and writes the `_mcp_servers` table through an agent's `sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    def add(
        self, name: str, url: str, headers: Mapping[str, str] | None, redirect_uri: str | None = None
    ) -> Registration:
        """Register a server (with OAuth when it has a `redirect_uri`); refuses bad input and a
        name already taken."""
        registration = Registration(
            _valid_name(name), _valid_url(url), _valid_headers(headers or {}), redirect_uri
        )
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
        if redirect_uri is not None:
            self._sql(_OAUTH_TABLE)
            self._sql(
                "INSERT OR REPLACE INTO _mcp_oauth(name, redirect_uri) VALUES (?, ?)", name, redirect_uri
            )
        return registration

    def remove(self, name: str) -> None:
        """Forget a server, and whatever its authorization server issued."""
        self.get(name)
        self._sql("DELETE FROM _mcp_servers WHERE name = ?", name)
        if self._has("_mcp_oauth"):
            self._sql("DELETE FROM _mcp_oauth WHERE name = ?", name)

    def get(self, name: str) -> Registration:
        rows = self._rows("WHERE s.name = ?", name) if isinstance(name, str) else []
        if not rows:
            raise UnknownMcpServerError(f"no MCP server named {name!r} is registered")
        return rows[0]

    def all(self) -> list[Registration]:
        """Every registered server, in the order they were added."""
        return self._rows("ORDER BY s.added, s.name")

    def credentials(self, name: str) -> dict[str, Any]:
        """What the server's authorization server issued, as JSON texts (`client_info`, `tokens`;
        None until issued)."""
        rows = self._sql("SELECT client_info, tokens FROM _mcp_oauth WHERE name = ?", name)
        return rows[0] if rows else {"client_info": None, "tokens": None}

    def store_credentials(self, name: str, client_info: str | None, tokens: str | None) -> None:
        """Keep what the authorization server issued (part of the turn, like any SQL)."""
        query = "UPDATE _mcp_oauth SET client_info = ?, tokens = ? WHERE name = ?"
        self._sql(query, client_info, tokens, name)

    def _has(self, table: str) -> bool:
        return bool(self._sql("SELECT 1 FROM sqlite_master WHERE name = ?", table))

    def _rows(self, where: str, *values: Any) -> list[Registration]:
        if not self._has("_mcp_servers"):
            return []
        oauth = "LEFT JOIN _mcp_oauth o ON o.name = s.name" if self._has("_mcp_oauth") else ""
        redirect = "o.redirect_uri" if oauth else "NULL"
        query = f"SELECT s.name, s.url, s.headers, {redirect} AS redirect_uri FROM _mcp_servers s {oauth}"
        rows = self._sql(f"{query} {where}", *values)
        return [Registration(r["name"], r["url"], json.loads(r["headers"]), r["redirect_uri"]) for r in rows]


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
