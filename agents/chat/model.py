"""One streamed model call through litellm, as text pieces followed by complete tool calls.

litellm is imported on the first call, not at import time: it costs ~120 MiB and seconds of
start-up, which agents that never chat should not pay.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """A complete tool call from the model (`arguments` is its JSON text, unvalidated)."""

    id: str
    name: str
    arguments: str

    def message_part(self) -> dict[str, Any]:
        """The call as it appears in an assistant message's `tool_calls`."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True)
class Usage:
    """The tokens one model call took, as the provider reported them (the last part of a step)."""

    input_tokens: int
    output_tokens: int


def _import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # else it downloads a price list
    import litellm

    return litellm


async def _litellm() -> Any:
    """litellm, imported off the event loop: the first import takes seconds, during which the
    actor must keep answering (the controller's liveness probes). Python's import lock makes
    concurrent first calls wait for one import; later calls cost one thread hop."""
    return await asyncio.to_thread(_import_litellm)


def _takes_stream_options(litellm: Any, model: str) -> bool:
    """Whether litellm passes `stream_options` to this model's provider (others refuse it)."""
    try:
        name, provider, _, _ = litellm.get_llm_provider(model)
        supported = litellm.get_supported_openai_params(model=name, custom_llm_provider=provider)
        return "stream_options" in (supported or ())
    except Exception:  # an unknown provider: ask nothing of it
        return False


async def stream_completion(
    model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]], **options: Any
) -> AsyncIterator[str | ToolCall | Usage]:
    """Call `litellm.acompletion(..., stream=True)`: yields text deltas as they arrive, then each
    tool call once its streamed pieces are complete, then the call's `Usage` if the provider
    reported one (usage is asked for where litellm says the provider takes `stream_options`,
    unless `options` set it). `options` go to litellm as they are (`api_base`, `api_key`,
    `temperature`, `mock_response`, ...)."""
    litellm = await _litellm()
    if tools:
        options["tools"] = tools
    if "stream_options" not in options and _takes_stream_options(litellm, model):
        options["stream_options"] = {"include_usage": True}
    response = await litellm.acompletion(model=model, messages=messages, stream=True, **options)
    calls: dict[int, dict[str, str]] = {}
    usage: Usage | None = None
    async for chunk in response:
        reported = getattr(chunk, "usage", None)
        if reported is not None and (reported.prompt_tokens or reported.completion_tokens):
            usage = Usage(reported.prompt_tokens or 0, reported.completion_tokens or 0)
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if delta.content:
            yield delta.content
        for piece in delta.tool_calls or ():
            call = calls.setdefault(piece.index or 0, {"id": "", "name": "", "arguments": ""})
            call["id"] = piece.id or call["id"]
            if piece.function is not None:
                call["name"] = piece.function.name or call["name"]
                call["arguments"] += piece.function.arguments or ""
    for index in sorted(calls):
        call = calls[index]
        yield ToolCall(call["id"] or f"call_{uuid.uuid4().hex[:12]}", call["name"], call["arguments"])
    if usage is not None:
        yield usage
