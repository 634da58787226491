"""End to end in headless Chromium: the example chat page (`/chat`, `examples/chat.html`) against
`examples.chat_app.ExampleChat` through the ingress, with the local fake model behind litellm."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from agents import get_agent
from examples.chat_app import ExampleChat, send_email
from tests.agents_for_chat import FAKE_LLM_URL
from tests.browser import open_page
from tests.fake_llm import Call, Reply, shared

# Set at collection, before the session's ray.init, so the agent processes inherit them: the
# example agent reads its model from the environment, as it would for a real one.
SERVER = shared(FAKE_LLM_URL)
MODEL_KEY = "example-chat-page"
os.environ["CHAT_MODEL"] = f"openai/{MODEL_KEY}"
os.environ["CHAT_API_BASE"] = SERVER.url

STATUS = "document.getElementById('status').textContent"
TEXT = "e => e.textContent"
LAST_TEXT = "[...document.querySelectorAll('.reply .assistant')].at(-1)?.textContent"


async def test_chat_page_streams_resumes_after_a_drop_and_runs_an_approved_tool(
    served: str, agent_id: str, tmp_path: Path
) -> None:
    email = Call("send_email", {"to": "bob@example.com", "subject": "hi", "body": "hello Bob"})
    held, _ = SERVER.script(
        MODEL_KEY,
        Reply(text="I will email Bob now.", calls=[email], hold_after=2),
        Reply(text="Done: Bob has his email."),
    )
    asked = len(SERVER.requests[MODEL_KEY])
    async with open_page(f"{served}/chat?id={agent_id}", tmp_path) as page:
        await page.wait_for(STATUS, "ready")
        await page.evaluate("document.getElementById('input').value = 'email Bob please'")
        await page.evaluate("document.getElementById('send').click()")
        assert await asyncio.to_thread(held.reached.wait, 30)
        await page.wait_for(LAST_TEXT, "I will")  # token by token: the model holds the rest back
        await page.evaluate("chat._ws.close()")  # the network drops mid-reply
        await page.wait_for(STATUS, "reconnecting")
        held.release.set()
        await page.wait_for(STATUS, "awaiting_approval")  # resumed after the reconnect
        assert await page.evaluate(LAST_TEXT) == "I will email Bob now."  # each chunk shown once
        assert await page.evaluate("document.querySelectorAll('.approval').length") == 1
        calls = await page.evaluate(f"[...document.querySelectorAll('.tool-call')].map({TEXT})")
        assert len(calls) == 1 and "send_email" in calls[0] and "bob@example.com" in calls[0]
        await page.evaluate("document.querySelector('.approval button.approve').click()")
        await page.wait_for(STATUS, "complete")
        results = await page.evaluate(f"[...document.querySelectorAll('.tool-result')].map({TEXT})")
        assert results == [f"→ {send_email('bob@example.com', 'hi', 'hello Bob')}"]
        assert await page.evaluate(LAST_TEXT) == "Done: Bob has his email."
        await page.evaluate("location.reload()")  # history comes back from the agent
        await page.wait_for(STATUS, "ready")
        shown = await page.evaluate("document.getElementById('messages').innerText")
        assert "email Bob please" in shown and "Done: Bob has his email." in shown
    assert len(SERVER.requests[MODEL_KEY]) == asked + 2
    assert await get_agent(ExampleChat, agent_id).pending_approvals() == []
    contents = [m["content"] for m in await get_agent(ExampleChat, agent_id).messages()]
    assert contents[0] == "email Bob please" and contents[-1] == "Done: Bob has his email."
