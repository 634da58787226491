"""`ChatAgent`: an agent that talks to a model through litellm, with tools, a durable history,
resumable streams and human approval of tool calls.

One user message is one stream: `chat(text)` yields its chunks (see `agents.chat.chunks`) while
the tool loop runs (model step, tool calls, model step, ... up to `max_steps` model calls).
Everything the loop needs lives in SQL (messages, the stream's row, its chunk log), and each
finished model step and tool call is checkpointed before the loop goes on, so the loop can be
picked up from SQL by `approve`/`reject` (after a pause for approval, across hibernation and
restarts) and by `resume` or the agent itself (after the turn died: crash, cancelled caller).

Concurrency: each of these calls is one turn, and an agent runs one turn at a time, in arrival
order. A second `chat` while a reply streams therefore waits for that turn to end, then runs with
the first exchange in its history: messages queue, turns never interleave. While a tool call
awaits approval, a new `chat` is refused with `ApprovalPendingError`. A new `chat` closes a stream
whose turn died (status `interrupted`) rather than redoing it.

Over a WebSocket, `chat`, `resume`, `approve` and `reject` run to their end when the socket drops
(`@callable(finish_on_disconnect=True)`): the reply is not thrown away and asked for again. A
client that reconnects (its connection is accepted once that turn ends) calls
`resume(stream_id, after_seq)` and gets exactly the chunks it missed. An explicit `cancel`, or a
caller that goes away over a handle, still stops the turn; `resume` then redoes it.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from agents.agent import Agent
from agents.chat.approval import awaits_decision, decide, rejection
from agents.chat.chunks import (
    ApprovalRequest,
    Chunk,
    Done,
    Rewind,
    Start,
    Status,
    Text,
    ToolCallChunk,
    ToolResultChunk,
)
from agents.chat.history import ChatHistory
from agents.chat.mcp import mcp_tools
from agents.chat.model import ToolCall, Usage, stream_completion
from agents.chat.streams import Stream, StreamLog
from agents.chat.tools import ChatTool, Tool, ToolResult, toolset
from agents.errors import ApprovalPendingError, UnknownApprovalError, UnknownStreamError
from agents.limits import SizeLimits
from agents.methods import callable

log = logging.getLogger("ray_agents.chat")


@dataclass(frozen=True)
class ChatContext:
    """What `on_chat_message` knows about the step it produces."""

    stream_id: str
    #: 1 for the first model call of the stream, 2 after the first round of tool calls, ...
    step: int
    #: The tool declarations (OpenAI format) to offer the model.
    tools: list[dict[str, Any]]


class ChatAgent(Agent):
    """Set `model`, `system` and `tools` (or override `on_chat_message`), then `chat(text)`."""

    #: Any litellm model string: "openai/gpt-4o", "anthropic/claude-...", "ollama/llama3", ...
    model: ClassVar[str] = "openai/gpt-4o-mini"
    #: The system prompt, sent before the history (None: none).
    system: ClassVar[str | None] = None
    #: Plain functions (wrapped with `tool`) or `Tool`s the model may call.
    tools: ClassVar[Sequence[Callable[..., Any] | Tool]] = ()
    #: Extra arguments for `litellm.acompletion` (api_base, api_key, temperature, mock_response, ...).
    model_options: ClassVar[dict[str, Any]] = {}
    #: Model calls per user message: the tool loop stops with status "max_steps" beyond it.
    max_steps: ClassVar[int] = 8
    #: Messages kept in the history; older ones are deleted when a stream ends.
    max_messages: ClassVar[int] = 1000
    #: Streams whose chunk logs are kept for `resume` (the newest ones).
    keep_streams: ClassVar[int] = 20
    #: Which tools of the agent's MCP servers (`self.mcp`; the model sees them as `server__tool`)
    #: pause for approval, as `fnmatch` patterns of those names ("files__delete", "files__*").
    #: Every one by default: their code is someone else's.
    mcp_needs_approval: ClassVar[Sequence[str]] = ("*",)
    #: How often a stream whose turn died is redone before it is closed as "interrupted".
    max_recoveries: ClassVar[int] = 2

    @functools.cached_property
    def _history(self) -> ChatHistory:
        return ChatHistory(self.sql)

    @functools.cached_property
    def _streams(self) -> StreamLog:
        return StreamLog(self.sql, self.checkpoint, SizeLimits.of(type(self)))

    @functools.cached_property
    def _toolset(self) -> dict[str, Tool]:
        return toolset(self.tools)

    # ---- the hook ----------------------------------------------------------------------------

    async def on_chat_message(
        self, messages: list[dict[str, Any]], ctx: ChatContext
    ) -> AsyncIterator[str | ToolCall | Usage]:
        """One model step: yield text deltas and complete `ToolCall`s for `messages` (OpenAI format,
        system prompt first), and optionally the step's `Usage` (its tokens, for events and
        metrics). The default streams `self.model` through litellm with the tools."""
        async for part in stream_completion(self.model, messages, ctx.tools, **self.model_options):
            yield part

    async def on_start(self) -> None:
        """Creates the chat tables and queues the recovery of streams a crash left open.
        Subclasses that override it must call `await super().on_start()`."""
        self._history.create()
        self._streams.create()
        if self._streams.with_status("streaming"):
            await self.queue("recover_streams")

    # ---- calls -------------------------------------------------------------------------------

    @callable(finish_on_disconnect=True)
    async def chat(self, text: str) -> AsyncIterator[Chunk]:
        """Add a user message and stream the reply: `Start` (with the stream ID), `Text` deltas,
        tool calls and results, approval requests, and a final `Done`."""
        for pending in self._streams.with_status("awaiting_approval"):
            raise ApprovalPendingError(f"tool call {pending.awaiting} awaits approve() or reject()")
        for dead in self._streams.with_status("streaming"):
            async for _ in self._recover(dead, redo=False):
                pass
        stream = self._streams.open()
        self._history.append(stream.id, {"role": "user", "content": text})
        yield await self._streams.emit(stream, Start())  # checkpoints: the message is durable now
        self._runtime.emit("chat:start", stream=stream.id)
        async for chunk in self._drive(stream):
            yield chunk

    @callable(finish_on_disconnect=True)
    async def resume(self, stream_id: str, after_seq: int = 0) -> AsyncIterator[Chunk]:
        """The stream's chunks after `after_seq`; then, if its turn died, the rest as it is redone."""
        stream = self._streams.get(stream_id)
        if stream is None:
            raise UnknownStreamError(f"no stream {stream_id!r}")
        for chunk in self._streams.chunks(stream_id, after_seq):
            yield chunk
        if stream.status == "streaming":
            async for chunk in self._recover(stream):
                yield chunk

    @callable(finish_on_disconnect=True)
    async def approve(self, call_id: str) -> AsyncIterator[Chunk]:
        """Run the paused tool call and stream the rest of its turn."""
        async for chunk in self._decide(call_id, True, ""):
            yield chunk

    @callable(finish_on_disconnect=True)
    async def reject(self, call_id: str, reason: str = "") -> AsyncIterator[Chunk]:
        """Tell the model the call was refused (with `reason`) and stream the rest of its turn."""
        async for chunk in self._decide(call_id, False, reason):
            yield chunk

    @callable(readonly=True)
    def pending_approvals(self) -> list[dict[str, str]]:
        """Tool calls waiting for a decision: stream_id, call_id, name, arguments."""
        return [
            {"stream_id": s.id, "call_id": c.id, "name": c.name, "arguments": c.arguments}
            for s in self._streams.with_status("awaiting_approval")
            for c in self._history.unanswered_calls(s.id)
            if c.id == s.awaiting
        ]

    @callable(readonly=True)
    def messages(self) -> list[dict[str, Any]]:
        """The conversation (OpenAI-format messages), oldest first."""
        return self._history.messages()

    @callable
    def clear_messages(self) -> None:
        self._history.clear()

    async def recover_streams(self) -> None:
        """Redo (or close) streams whose turn died; queued by `on_start` after a crash."""
        for stream in self._streams.with_status("streaming"):
            async for _ in self._recover(stream):
                pass

    # ---- the loop ----------------------------------------------------------------------------

    async def _tools(self) -> dict[str, ChatTool]:
        """The class's tools, and those its MCP servers list now (a class tool wins a name clash)."""
        return {**await mcp_tools(self.mcp, self.mcp_needs_approval), **self._toolset}

    async def _drive(self, stream: Stream) -> AsyncIterator[Chunk]:
        """Run the tool loop from where SQL says the stream is, until it ends or pauses."""
        tools = await self._tools()
        while stream.status == "streaming":
            calls = self._history.unanswered_calls(stream.id)
            if calls:
                for call in calls:
                    tool = tools.get(call.name)
                    if awaits_decision(stream, call, tool):
                        stream.awaiting = call.id
                        self._runtime.emit("chat:approval", stream=stream.id, tool=call.name)
                        yield await self._streams.emit(stream, ApprovalRequest(**_call_fields(call)))
                        yield await self._finish(stream, "awaiting_approval")
                        return
                    yield await self._run_tool(stream, call, tool)
            elif self._history.answered(stream.id):
                yield await self._finish(stream, "complete")
            elif stream.steps >= self.max_steps:
                yield await self._finish(stream, "max_steps")
            else:
                async for chunk in self._model_step(stream, tools):
                    yield chunk

    async def _model_step(self, stream: Stream, tools: dict[str, ChatTool]) -> AsyncIterator[Chunk]:
        stream.steps += 1
        context = ChatContext(stream.id, stream.steps, [t.schema() for t in tools.values()])
        prompt = [{"role": "system", "content": self.system}] if self.system else []
        text: list[str] = []
        calls: list[ToolCall] = []
        usage: Usage | None = None
        started = time.monotonic()
        try:
            async for part in self.on_chat_message(prompt + self._history.messages(), context):
                if isinstance(part, ToolCall):
                    calls.append(part)
                elif isinstance(part, Usage):
                    usage = part
                elif part:
                    text.append(part)
                    for piece in self._streams.text_pieces(stream, part):
                        yield await self._streams.emit(stream, Text(delta=piece))
        except Exception as exc:
            log.warning("%s: model step %d of stream %s failed: %r", self.name, stream.steps, stream.id, exc)
            yield await self._finish(stream, "error", f"{type(exc).__name__}: {exc}")
            return
        tokens = (
            {}
            if usage is None
            else {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
        )
        self._runtime.emit(
            "chat:step",
            time.monotonic() - started,
            stream=stream.id,
            model=self.model,
            tool_calls=len(calls),
            **tokens,
        )
        message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
        if calls:
            message["tool_calls"] = [call.message_part() for call in calls]
        self._history.append(stream.id, message)
        for call in calls:
            yield await self._streams.emit(stream, ToolCallChunk(**_call_fields(call)))
        await self._streams.checkpoint(stream)

    async def _run_tool(self, stream: Stream, call: ToolCall, tool: ChatTool | None) -> Chunk:
        result = rejection(stream, call)
        if result is None:
            started = time.monotonic()
            if tool is None:
                result = ToolResult(f"there is no tool named {call.name!r}", is_error=True)
            else:
                result = await tool.run(call.arguments)
            failed = {"error": True} if result.is_error else {}
            self._runtime.emit(
                "chat:tool", time.monotonic() - started, stream=stream.id, tool=call.name, **failed
            )
        result = ToolResult(
            self._streams.fitting_result(stream, call.id, call.name, result.text), result.is_error
        )
        self._history.append(stream.id, {"role": "tool", "tool_call_id": call.id, "content": result.text})
        chunk = await self._streams.emit(
            stream,
            ToolResultChunk(call_id=call.id, name=call.name, result=result.text, is_error=result.is_error),
        )
        await self._streams.checkpoint(stream)
        return chunk

    async def _decide(self, call_id: str, approved: bool, reason: str) -> AsyncIterator[Chunk]:
        stream = self._streams.awaiting(call_id)
        if stream is None:
            raise UnknownApprovalError(f"no tool call {call_id!r} awaits a decision")
        decide(stream, call_id, approved, reason)
        await self._streams.checkpoint(stream)
        async for chunk in self._drive(stream):
            yield chunk

    async def _recover(self, stream: Stream, redo: bool = True) -> AsyncIterator[Chunk]:
        """Redo (or close, if `redo` is false or it died too often) a stream whose turn died,
        numbering above anything a client may have seen."""
        stream.recoveries += 1
        rewind_to, stream.seq = stream.seq, stream.lease
        yield await self._streams.emit(stream, Rewind(to_seq=rewind_to))
        if not redo or stream.recoveries > self.max_recoveries:
            yield await self._finish(stream, "interrupted")
            return
        async for chunk in self._drive(stream):
            yield chunk

    async def _finish(self, stream: Stream, status: Status, error: str | None = None) -> Chunk:
        """End the stream (or pause it, for approval); on a real end apply retention."""
        if status == "interrupted":  # every tool call needs a result before the next model call
            for call in self._history.unanswered_calls(stream.id):
                result = "the call was interrupted before it finished"
                self._history.append(stream.id, {"role": "tool", "tool_call_id": call.id, "content": result})
        stream.status = status
        chunk = await self._streams.emit(stream, Done(status=status, error=error))
        self._runtime.emit("chat:done", stream=stream.id, status=status, steps=stream.steps)
        self._streams.save(stream)
        if status != "awaiting_approval":
            self._history.trim(self.max_messages)
            self._streams.forget_old(self.keep_streams)
        return chunk


def _call_fields(call: ToolCall) -> dict[str, str]:
    return {"call_id": call.id, "name": call.name, "arguments": call.arguments}
