"""The typed pieces a chat stream yields, in `seq` order (also what is stored for `resume`).

Every chunk names its stream and carries a sequence number that increases along the stream and is
never reused, even across a crash: a client that reconnects asks `resume(stream_id, after_seq)`
for what it has not seen. A `rewind` chunk says "the turn was cut short and is redone: discard
what you hold after `to_seq`". A stream ends with `done`; its `status` tells why (see `Status`).
"""

from __future__ import annotations

from typing import Annotated, Literal

import pydantic

#: complete: the model gave its final answer. awaiting_approval: paused until `approve`/`reject`.
#: max_steps: the tool loop hit its step limit. error: the model call failed (`error` says how).
#: interrupted: the turn died (crash, cancelled caller) more often than the agent retries it.
Status = Literal["complete", "awaiting_approval", "max_steps", "error", "interrupted"]


class _Chunk(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True)

    stream_id: str = ""
    seq: int = 0


class Start(_Chunk):
    """A stream began; `stream_id` is what `resume` takes."""

    type: Literal["start"] = "start"


class Text(_Chunk):
    """A piece of the assistant's answer."""

    type: Literal["text"] = "text"
    delta: str


class ToolCallChunk(_Chunk):
    """The model asked for a tool call (`arguments` is the model's JSON text)."""

    type: Literal["tool_call"] = "tool_call"
    call_id: str
    name: str
    arguments: str


class ToolResultChunk(_Chunk):
    """What a tool call returned (or why it failed: `is_error`); the model sees the same text."""

    type: Literal["tool_result"] = "tool_result"
    call_id: str
    name: str
    result: str
    is_error: bool = False


class ApprovalRequest(_Chunk):
    """A tool call waits for `approve(call_id)` or `reject(call_id, reason)`."""

    type: Literal["approval_request"] = "approval_request"
    call_id: str
    name: str
    arguments: str


class Rewind(_Chunk):
    """The turn died and is redone: drop chunks with `to_seq < seq < this chunk's seq`."""

    type: Literal["rewind"] = "rewind"
    to_seq: int


class Done(_Chunk):
    """The stream ended (or paused, for `awaiting_approval`)."""

    type: Literal["done"] = "done"
    status: Status
    error: str | None = None


Chunk = Annotated[
    Start | Text | ToolCallChunk | ToolResultChunk | ApprovalRequest | Rewind | Done,
    pydantic.Field(discriminator="type"),
]
CHUNK = pydantic.TypeAdapter(Chunk)
