"""`self.mcp` with an OAuth-protected MCP server (`tests.mcp_oauth_server`: the official SDK's
authorization server routes, a real subprocess): the authorization URL an agent returns, the
user's trip through the authorization server and back through the Serve app's callback, tokens
that survive SIGKILL and are refreshed (and rotated) after it, and callbacks that are refused."""

from __future__ import annotations

import asyncio
import html
import json
import os
import signal
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agents import get_agent, list_agents
from agents.errors import McpAuthorizationRequiredError
from agents.http import agent_url
from tests.agents_for_mcp import OAuthMcpUser
from tests.conftest import free_port
from tests.mcp_server import OAuthServer

#: Access tokens of the `short_lived` server expire after this many seconds.
TOKEN_SECONDS = 1


@pytest.fixture(scope="module")
def oauth_server() -> Iterator[OAuthServer]:
    server = OAuthServer(free_port(), token_seconds=3600)
    yield server
    server.kill()


@pytest.fixture
def short_lived() -> Iterator[OAuthServer]:
    server = OAuthServer(free_port(), token_seconds=TOKEN_SECONDS)
    yield server
    server.kill()


def stats(server: OAuthServer) -> dict[str, int]:
    with urllib.request.urlopen(f"{server.base}/stats", timeout=10) as response:
        return json.load(response)


async def browse(url: str) -> httpx.Response:
    """What the user's browser gets at `url` (redirects not followed)."""
    async with httpx.AsyncClient(timeout=30) as browser:
        return await browser.get(url)


async def authorized(served: str, agent_id: str, server: OAuthServer) -> Any:
    """An OAuthMcpUser with `server` registered as "secure" and authorized by its user."""
    user = get_agent(OAuthMcpUser, agent_id)
    redirect = await user.add_oauth_server("secure", server.url, served)
    assert redirect == agent_url(served, "oauth-user", agent_id, "/mcp-oauth/secure")
    url = await user.authorize("secure")
    assert url is not None and url.startswith(f"{server.base}/authorize?")
    assert (await user.describe())["idle_seconds"] == 0  # kept live while its user is away
    approved = await browse(url)  # the authorization server approves at once
    assert approved.status_code == 302
    back = approved.headers["location"]
    assert back.startswith(f"{redirect}?")
    page = await browse(back)
    assert page.status_code == 200, page.text
    assert "secure is connected" in page.text and page.headers["content-type"].startswith("text/html")
    return user


async def token_expired() -> None:
    """Let the access token's lifetime pass: what is awaited here is the clock itself."""
    await asyncio.sleep(TOKEN_SECONDS + 0.2)


async def test_an_agent_authorizes_through_the_apps_callback_then_calls(
    served: str, agent_id: str, oauth_server: OAuthServer
) -> None:
    before = stats(oauth_server)
    user = get_agent(OAuthMcpUser, agent_id)
    await user.add_oauth_server("early", oauth_server.url, served)
    with pytest.raises(McpAuthorizationRequiredError, match=r"call self.mcp.authorize\('early'\)"):
        await user.tool_names("early")

    user = await authorized(served, agent_id, oauth_server)
    assert await user.tool_names("secure") == ["secure/whoami"]
    assert (await user.call("secure", "whoami"))["text"] == "an authorized client"
    assert await user.authorize("secure") is None  # the tokens it holds serve: nobody needed
    after = stats(oauth_server)
    assert after["registrations"] - before["registrations"] == 1  # dynamic client registration
    assert after["code_grants"] - before["code_grants"] == 1
    (server,) = [s for s in await user.servers() if s["name"] == "secure"]
    assert server["header_names"] == ()  # the token is no header, and never shown


async def test_tokens_survive_sigkill_and_rotated_refresh_tokens_are_kept(
    served: str, agent_id: str, short_lived: OAuthServer
) -> None:
    user = await authorized(served, agent_id, short_lived)
    for refreshes in (1, 2):
        os.kill((await user.describe())["pid"], signal.SIGKILL)
        await token_expired()
        # Read back from SQLite: the access token has expired, so the refresh token serves; each
        # refresh rotates it, so only a refresh token kept after the last refresh would work.
        assert await user.tool_names("secure") == ["secure/whoami"]
        assert stats(short_lived)["refresh_grants"] == refreshes
    assert stats(short_lived)["registrations"] == 1 and stats(short_lived)["code_grants"] == 1


async def test_a_read_only_turn_refreshes_in_memory_and_a_later_turn_keeps_it(
    served: str, agent_id: str, short_lived: OAuthServer
) -> None:
    user = await authorized(served, agent_id, short_lived)
    await token_expired()
    assert await user.tool_names_readonly("secure") == ["whoami"]  # refreshed; nothing written
    assert await user.tool_names("secure") == ["secure/whoami"]  # a turn that may write keeps it
    os.kill((await user.describe())["pid"], signal.SIGKILL)
    await token_expired()
    assert await user.tool_names("secure") == ["secure/whoami"]
    assert stats(short_lived)["refresh_grants"] == 2


async def test_callbacks_without_the_authorizations_state_are_refused(
    served: str, agent_id: str, oauth_server: OAuthServer
) -> None:
    never = agent_url(served, "oauth-user", f"never-{agent_id}", "/mcp-oauth/secure?code=x&state=y")
    assert (await browse(never)).status_code == 400  # anyone may send one: it activates nothing
    assert f"oauth-user/never-{agent_id}" not in (await list_agents())["live"]
    user = get_agent(OAuthMcpUser, agent_id)
    redirect = await user.add_oauth_server("secure", oauth_server.url, served)
    assert (await browse(f"{redirect}?code=x")).status_code == 422  # no state: the ingress refuses
    nothing_pending = await browse(f"{redirect}?code=x&state=forged")
    assert nothing_pending.status_code == 400 and "no authorization" in nothing_pending.text

    url = await user.authorize("secure")
    assert url is not None
    forged = await browse(f"{redirect}?code=x&state=forged")
    assert forged.status_code == 400 and "mcp_authorization_failed" in forged.text
    state = httpx.URL(url).params["state"]
    denied = await browse(f"{redirect}?error=access_denied&state={state}")
    assert denied.status_code == 400 and "refused 'secure': access_denied" in html.unescape(denied.text)
    with pytest.raises(McpAuthorizationRequiredError):
        await user.tool_names("secure")
    code_grants = stats(oauth_server)["code_grants"]
    replayed = await browse(f"{redirect}?code=x&state={state}")  # that authorization has ended
    assert replayed.status_code == 400
    assert stats(oauth_server)["code_grants"] == code_grants


async def test_removing_a_server_forgets_its_tokens(
    served: str, agent_id: str, oauth_server: OAuthServer
) -> None:
    user = await authorized(served, agent_id, oauth_server)
    await user.remove_server("secure")
    await user.add_oauth_server("secure", oauth_server.url, served)
    with pytest.raises(McpAuthorizationRequiredError):
        await user.tool_names("secure")
