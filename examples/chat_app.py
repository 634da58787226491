"""The example AI chat agent behind `examples/chat.html` (served at `/chat` by `examples.app`).

Point it at any litellm model with environment variables, set where the agents run (the shell
that starts `ray-agents dev` / `serve run` on a local cluster, or the Serve config's
`runtime_env.env_vars` on a real one):

    CHAT_MODEL     a litellm model string (default "openai/gpt-4o-mini", which needs OPENAI_API_KEY)
    CHAT_API_BASE  an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 (llama.cpp, vLLM, ...)
    CHAT_API_KEY   its key (default: the provider's usual variable; "none" when CHAT_API_BASE is set)

    CHAT_MODEL=openai/smollm2 CHAT_API_BASE=http://127.0.0.1:8080/v1 ray-agents dev examples.app:app
    # then open http://127.0.0.1:8000/chat
"""

from __future__ import annotations

import os
import random
from typing import Any

from agents.chat import ChatAgent, tool

DEFAULT_MODEL = "openai/gpt-4o-mini"


def roll_dice(sides: int = 6, count: int = 1) -> list[int]:
    """Roll `count` dice with `sides` sides each."""
    return [random.randint(1, max(sides, 1)) for _ in range(max(min(count, 20), 1))]


def send_email(to: str, subject: str, body: str) -> str:
    """Send an email (a person approves each one first). Demo: nothing is actually sent."""
    return f"email to {to} with subject {subject!r} sent (demo: nothing left this machine)"


class ExampleChat(ChatAgent):
    """A small assistant with one free tool and one that needs the user's approval."""

    type_name = "chat"
    system = (
        "You are a helpful, concise assistant. Use roll_dice for dice rolls and send_email to "
        "send emails; the user approves every email before it is sent."
    )
    tools = (roll_dice, tool(send_email, needs_approval=True))

    @property
    def model(self) -> str:  # type: ignore[override]
        """`$CHAT_MODEL`, read in the agent's process when the model is called."""
        return os.environ.get("CHAT_MODEL") or DEFAULT_MODEL

    @property
    def model_options(self) -> dict[str, Any]:  # type: ignore[override]
        """`api_base` / `api_key` from `$CHAT_API_BASE` / `$CHAT_API_KEY` when set."""
        options: dict[str, Any] = {}
        base = os.environ.get("CHAT_API_BASE")
        if base:
            options["api_base"] = base
            options["api_key"] = os.environ.get("CHAT_API_KEY") or "none"
        elif os.environ.get("CHAT_API_KEY"):
            options["api_key"] = os.environ["CHAT_API_KEY"]
        return options
