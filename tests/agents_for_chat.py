"""Chat agents the chat tests exercise (importable by Ray workers).

Each agent asks the fake model server (`tests.fake_llm`, URL in $FAKE_LLM_URL) for model key
"<agent id>", so every test scripts the replies of its own agent.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from agents.chat import ChatAgent, ChatContext, ToolCall, stream_completion, tool

FAKE_LLM_URL = "FAKE_LLM_URL"


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(reason)


def transfer(amount: int, to: str) -> str:
    """Send money (a person must approve)."""
    return f"sent {amount} to {to}"


class Assistant(ChatAgent):
    system = "You are a test assistant."
    tools = (add, explode, tool(transfer, needs_approval=True))
    max_steps = 3

    @property
    def model(self) -> str:  # type: ignore[override]
        return f"openai/{self.name}"

    @property
    def model_options(self) -> dict[str, Any]:  # type: ignore[override]
        return {"api_base": os.environ[FAKE_LLM_URL], "api_key": "x"}


class SleepyAssistant(Assistant):
    """Hibernates after half a second without calls."""

    idle_timeout = 0.5


class ForgetfulAssistant(Assistant):
    """Keeps four messages and the chunk logs of two streams."""

    max_messages = 4
    keep_streams = 2


class MockedChat(ChatAgent):
    """No server: litellm's `mock_response` (a tool call, then text), by overriding the hook."""

    tools = (add,)

    async def on_chat_message(
        self, messages: list[dict[str, Any]], ctx: ChatContext
    ) -> AsyncIterator[str | ToolCall]:
        from litellm import ModelResponse

        call = {"id": "call-1", "type": "function", "function": {"name": "add", "arguments": '{"a":2,"b":3}'}}
        first = ModelResponse(
            choices=[{"message": {"role": "assistant", "content": None, "tool_calls": [call]}}]
        )
        reply = first if ctx.step == 1 else f"the sum is {messages[-1]['content']}"
        async for part in stream_completion("openai/gpt-4o-mini", messages, ctx.tools, mock_response=reply):
            yield part


class CodeModeAssistant(Assistant):
    """Offers Code Mode (a sandboxed Python program that calls `add`) as its one tool."""

    @property
    def tools(self) -> tuple[Any, ...]:  # type: ignore[override]
        from agents.codemode import codemode_tool

        return (codemode_tool([add], language="python"),)
