"""The chat agent `bench_chat` drives (a module of its own so Ray workers import it by name)."""

from __future__ import annotations

import os
from typing import Any

from agents.chat import ChatAgent

#: Tokens the fake model streams per reply (its model key `tokens-N` says how many).
TOKENS = 1000
FAKE_LLM_URL = "FAKE_LLM_URL"


class BenchChat(ChatAgent):
    model = f"openai/tokens-{TOKENS}"

    @property
    def model_options(self) -> dict[str, Any]:  # type: ignore[override]
        return {"api_base": os.environ[FAKE_LLM_URL], "api_key": "x"}
