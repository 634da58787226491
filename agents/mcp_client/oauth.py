"""OAuth 2.1 for the MCP servers that want it, through the official SDK's client auth provider
(`OAuthClientProvider`: metadata discovery, dynamic client registration, PKCE, token refresh).

An authorization waits on a person, so it outlives the turn that asked for it. `start` runs the
SDK's flow as a task of the activation and returns the authorization URL the flow produced;
the flow then waits for the callback. The authorization server sends the user back to the Serve
app, at the server's `redirect_uri` (`{callback}/agents/{type}/{id}/mcp-oauth/{server}`), and the
ingress hands that request to the agent as a turn of its own (`complete`): the flow resumes,
exchanges the code for tokens, and the callback's turn stores them in the agent's SQLite.

Tokens and client secrets live in that table and in this activation's memory only: never in
state, events, logs or errors. An authorization in progress lives in memory too: if the agent
hibernates or crashes before the callback, the callback is refused and `authorize` starts anew.
"""

from __future__ import annotations

import asyncio
import html
import json
import secrets
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, NoReturn

from agents.errors import McpAuthorizationFailedError, McpAuthorizationRequiredError, McpTimeoutError
from agents.http import agent_url
from agents.mcp_client.registry import Registration, ServerRegistry
from agents.requests import Response

#: What follows `/agents/{type}/{id}` in a redirect URI: the ingress routes it to `complete`.
CALLBACK_PREFIX = "/mcp-oauth/"
#: How long an authorization in progress waits for its person (then its callback is refused).
AUTHORIZATION_TIMEOUT_S = 600.0


def page(title: str, text: str, status: int) -> Response:
    """The page the user's browser shows once it is back from the authorization server."""
    body = f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><p>{html.escape(text)}</p>"
    return Response(body, status, media_type="text/html; charset=utf-8")


def redirect_uri(callback: str, type_name: str, agent_id: str, server: str) -> str:
    """The URI an authorization server sends this agent's user back to, on the app at `callback`."""
    parts = urllib.parse.urlsplit(callback) if isinstance(callback, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise McpAuthorizationFailedError("oauth_callback is the Serve app's http(s) base URL, no query")
    return agent_url(callback, type_name, agent_id, CALLBACK_PREFIX + server)


@dataclass(repr=False)
class Credentials:
    """What a server's authorization server issued, as the SDK's `TokenStorage` reads and writes
    it (never shown: no repr)."""

    client_info: Any = None
    tokens: Any = None
    #: When the access token expires (epoch seconds), so a token read back from SQLite is refreshed.
    expires_at: float | None = None

    @classmethod
    def load(cls, stored: dict[str, Any]) -> Credentials:
        from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

        credentials = cls()
        if stored["client_info"]:
            credentials.client_info = OAuthClientInformationFull.model_validate_json(stored["client_info"])
        if stored["tokens"]:
            saved = json.loads(stored["tokens"])
            credentials.tokens = OAuthToken.model_validate(saved["token"])
            credentials.expires_at = saved["expires_at"]
        return credentials

    def dump(self) -> tuple[str | None, str | None]:
        """(client_info, tokens) as the JSON texts the registry stores."""
        info = self.client_info.model_dump_json(exclude_none=True) if self.client_info else None
        if self.tokens is None:
            return info, None
        token = self.tokens.model_dump(mode="json", exclude_none=True)
        return info, json.dumps({"token": token, "expires_at": self.expires_at})

    def copy(self) -> Credentials:
        return Credentials(self.client_info, self.tokens, self.expires_at)

    async def get_tokens(self) -> Any:
        return self.tokens

    async def set_tokens(self, tokens: Any) -> None:
        self.tokens = tokens
        self.expires_at = None if tokens.expires_in is None else time.time() + tokens.expires_in

    async def get_client_info(self) -> Any:
        return self.client_info

    async def set_client_info(self, client_info: Any) -> None:
        self.client_info = client_info


@dataclass(repr=False)
class _Pending:
    """An authorization waiting on its person: the flow's task, and where it stands."""

    credentials: Credentials
    url: asyncio.Future[str] = field(default_factory=asyncio.Future)
    code: asyncio.Future[Any] = field(default_factory=asyncio.Future)
    task: asyncio.Task[Any] | None = None
    #: The `state` the authorization URL carries (the callback must bring it back).
    state: str = ""

    async def redirected(self, url: str) -> None:
        self.state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query)).get("state", "")
        self.url.set_result(url)

    async def callback(self) -> Any:
        return await self.code


Flow = Callable[[Any], Awaitable[Any]]


class Authorizations:
    """One agent's OAuth credentials (read from its SQLite once per activation) and its
    authorizations in progress."""

    def __init__(self, registry: ServerRegistry) -> None:
        self._registry = registry
        self._credentials: dict[str, Credentials] = {}
        self._pending: dict[str, _Pending] = {}

    def close(self) -> None:
        """End every authorization in progress (the activation is going away)."""
        for name in list(self._pending):
            self.forget(name)

    def auth(self, server: Registration) -> Any:
        """The httpx auth of an ordinary exchange: the server's tokens, refreshed when they
        expire; with none usable, the call fails with McpAuthorizationRequiredError (at once,
        when the agent holds none)."""
        required = McpAuthorizationRequiredError(
            f"MCP server {server.name!r} needs authorization: call self.mcp.authorize({server.name!r})"
        )

        async def no_person(*_: Any) -> NoReturn:
            raise required

        credentials = self.credentials(server.name)
        if credentials.tokens is None:
            raise required
        return _provider(server, credentials, no_person, no_person)

    def credentials(self, name: str) -> Credentials:
        if name not in self._credentials:
            self._credentials[name] = Credentials.load(self._registry.credentials(name))
        return self._credentials[name]

    def save(self, name: str) -> None:
        """Write the credentials to the agent's SQLite if it holds others (call in a turn that
        may write). Compared with what SQLite holds, not with what was last written: a turn
        rolled back since then took that write with it."""
        credentials = self._credentials.get(name)
        if credentials is None:
            return
        dumped = credentials.dump()
        if dumped != Credentials.load(self._registry.credentials(name)).dump():
            self._registry.store_credentials(name, *dumped)

    @property
    def in_progress(self) -> bool:
        """Whether an authorization waits on its person (the agent must stay live for it)."""
        return bool(self._pending)

    def forget(self, name: str) -> None:
        """Drop the server's cached credentials and any authorization in progress."""
        self._credentials.pop(name, None)
        pending = self._pending.pop(name, None)
        if pending is not None and pending.task is not None:
            pending.task.cancel()

    async def start(
        self, server: Registration, connect: Callable[[Any], Coroutine[Any, Any, Any]], timeout_s: float
    ) -> str | None:
        """Begin authorizing `server`: `connect(auth)` connects with the SDK's provider as auth.
        Returns the URL to send the user to, or None when the stored tokens served (nobody needed)."""
        self.forget(server.name)
        pending = _Pending(self.credentials(server.name).copy())
        auth = _provider(server, pending.credentials, pending.redirected, pending.callback)
        pending.task = asyncio.create_task(connect(auth))
        pending.task.add_done_callback(_retrieved)
        self._pending[server.name] = pending
        waits = [pending.url, pending.task]
        done, _ = await asyncio.wait(waits, timeout=timeout_s, return_when="FIRST_COMPLETED")
        if pending.url in done:
            return pending.url.result()
        self.forget(server.name)
        if not done:
            raise McpTimeoutError(f"MCP server {server.name!r} did not start authorizing in {timeout_s:g} s")
        pending.task.result()  # the flow's typed error, if it failed
        self._credentials[server.name] = pending.credentials  # the caller saves, if it may write
        return None

    async def complete(self, name: str, query: dict[str, str], timeout_s: float) -> None:
        """The authorization server's answer (the callback's query): resume the flow, and keep
        the tokens it got. Refused unless it brings the `state` of the authorization in progress."""
        pending = self._pending.get(name)
        state = query.get("state", "")
        if (
            pending is None
            or not pending.state
            or not secrets.compare_digest(state.encode(), pending.state.encode())
        ):
            raise McpAuthorizationFailedError(
                f"no authorization of MCP server {name!r} is in progress with this state; authorize again"
            )
        del self._pending[name]
        assert pending.task is not None
        if "error" in query or "code" not in query:
            pending.task.cancel()
            reason = query.get("error_description") or query.get("error") or "no code"
            raise McpAuthorizationFailedError(f"the authorization server refused {name!r}: {reason}")
        from mcp.shared.auth import AuthorizationCodeResult

        answer = AuthorizationCodeResult(code=query["code"], state=state, iss=query.get("iss"))
        pending.code.set_result(answer)
        try:
            await asyncio.wait_for(pending.task, timeout_s)
        except TimeoutError:
            raise McpTimeoutError(f"MCP server {name!r} issued no tokens within {timeout_s:g} s") from None
        finally:  # tokens issued before a later step failed are kept (no second consent)
            self._credentials[name] = pending.credentials
            self.save(name)


def _retrieved(task: asyncio.Task[Any]) -> None:
    """A flow nobody came back for ends quietly (its callback, if any, reports the error)."""
    if not task.cancelled():
        task.exception()


def _provider(server: Registration, credentials: Credentials, redirect: Flow, callback: Flow) -> Any:
    from mcp.client.auth import OAuthClientProvider
    from mcp.shared.auth import OAuthClientMetadata

    metadata = OAuthClientMetadata(
        client_name="ray-agents",
        redirect_uris=[server.redirect_uri],  # type: ignore[list-item]
        grant_types=["authorization_code", "refresh_token"],
        application_type="web",
    )
    provider = OAuthClientProvider(server.url, metadata, credentials, redirect, callback)
    provider.context.token_expiry_time = credentials.expires_at
    return provider
