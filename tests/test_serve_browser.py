"""End to end in headless Chromium: the example page loads agents.js, syncs state and calls methods."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agents import get_agent
from examples.app import Counter
from tests.browser import Page, open_page


@pytest.fixture
async def browser_page(served: str, agent_id: str, tmp_path) -> AsyncIterator[Page]:
    async with open_page(f"{served}/?id={agent_id}&clicks=3", tmp_path) as page:
        yield page


async def test_example_page_syncs_state_and_calls_methods(browser_page: Page, agent_id: str) -> None:
    await browser_page.wait_for("document.getElementById('status').textContent", "clicked 3")
    assert await get_agent(Counter, agent_id).get() == 3
    await browser_page.wait_for("document.getElementById('count').textContent", "3")
    await get_agent(Counter, agent_id).add(10)  # pushed to the page by the agent
    await browser_page.wait_for("document.getElementById('count').textContent", "13")


async def test_agents_js_acknowledges_what_it_reads(browser_page: Page, agent_id: str) -> None:
    """12 MB of pushes to a page, three times the unacknowledged limit: its socket stays open."""
    from tests.agents_for_serve import Tally

    await browser_page.wait_for("document.getElementById('status').textContent", "clicked 3")  # loaded
    await browser_page.evaluate(
        f"""import("/static/agents.js").then(({{ AgentClient }}) => {{
            window.shouted = 0;
            const onMessage = (text) => {{ if (text.length === 100000) window.shouted += 1; }};
            window.tally = new AgentClient("tally", "{agent_id}", {{ onMessage }});
            window.tally.ready.then(() => {{ window.first = window.tally.identity; }});
        }}); 0"""
    )
    await browser_page.wait_for("window.first !== undefined", True)
    tally = get_agent(Tally, agent_id)
    for batch in range(1, 13):
        await tally.shout("x" * 100_000, times=10)
        await browser_page.wait_for("window.shouted", 10 * batch)
    assert await browser_page.evaluate("window.tally.identity === window.first && window.tally._connected")
