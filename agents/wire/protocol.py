"""The WebSocket wire protocol: JSON text frames with a `type`, as pydantic models.

See docs/protocol.md. Text frames whose JSON `type` is one of `CLIENT_TYPES` are protocol frames
(and must be valid); any other text frame, and every binary frame, goes to the agent's `on_message`.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

import pydantic

from agents.wire.errors import to_wire

#: Bumped on incompatible changes; the server closes connections that announce another version.
#: 2: clients acknowledge the frames they have read (`Ack`).
PROTOCOL_VERSION = 2
#: Frames larger than this (bytes) are refused with an error frame.
MAX_FRAME_BYTES = 1 << 20


class Frame(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    def dump(self) -> str:
        return self.model_dump_json()


# ---- client -> server ------------------------------------------------------------------------


class Hello(Frame):
    """Optional first frame: the protocol version the client speaks."""

    type: Literal["hello"] = "hello"
    protocol: int


class Rpc(Frame):
    """Call a `@callable` method; answered by `result`/`error`, or `chunk`s then `end` if it streams."""

    type: Literal["rpc"] = "rpc"
    id: str = pydantic.Field(min_length=1, max_length=128)
    method: str = pydantic.Field(min_length=1, max_length=256)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}


class Cancel(Frame):
    """Stop waiting for an in-flight call; a streaming call is stopped inside the agent too."""

    type: Literal["cancel"] = "cancel"
    id: str


class SetState(Frame):
    """Replace the agent's state (only if the agent sets `accept_client_state`)."""

    type: Literal["set_state"] = "set_state"
    state: Any


class Sync(Frame):
    """Ask for the full state again (e.g. after a patch that did not apply)."""

    type: Literal["sync"] = "sync"


class Ack(Frame):
    """How many frames the client has read on this socket, `identity` included. A client sends
    one at least every ACK_EVERY_FRAMES frames or ACK_EVERY_BYTES received since its last: the
    server closes a socket whose client leaves too much unread (close code 1013)."""

    type: Literal["ack"] = "ack"
    frames: int = pydantic.Field(ge=0)


#: A client acknowledges at least this often (frames, or characters and bytes received).
ACK_EVERY_FRAMES = 16
ACK_EVERY_BYTES = 64 * 1024

ClientFrame = Annotated[Hello | Rpc | Cancel | SetState | Sync | Ack, pydantic.Field(discriminator="type")]
CLIENT_TYPES = frozenset({"hello", "rpc", "cancel", "set_state", "sync", "ack"})
_client_frames: pydantic.TypeAdapter[ClientFrame] = pydantic.TypeAdapter(ClientFrame)


# ---- server -> client ------------------------------------------------------------------------


class Identity(Frame):
    """First frame after a connect: who the client is talking to, as whom."""

    type: Literal["identity"] = "identity"
    protocol: int = PROTOCOL_VERSION
    agent: str
    id: str
    connection: str
    readonly: bool = False
    #: Give it back as `?resume=` when reconnecting with the same connection ID: while the
    #: connection is open, only a connect with it may take the ID over.
    resume: str = ""


class State(Frame):
    """The whole state; `seq` numbers state versions within one activation of the agent."""

    type: Literal["state"] = "state"
    state: Any
    seq: int


class PatchOp(Frame):
    op: Literal["add", "remove", "replace"]
    path: str
    value: Any = None


class StatePatch(Frame):
    """A JSON Patch (RFC 6902 add/remove/replace) from state `seq - 1` to state `seq`."""

    type: Literal["state_patch"] = "state_patch"
    patch: list[PatchOp]
    seq: int


class Result(Frame):
    type: Literal["result"] = "result"
    id: str
    value: Any = None


class Chunk(Frame):
    """One item of a streaming call."""

    type: Literal["chunk"] = "chunk"
    id: str
    value: Any = None


class End(Frame):
    """A streaming call finished (and its turn was committed)."""

    type: Literal["end"] = "end"
    id: str


class Error(Frame):
    """A call failed (`id` set) or a frame was refused (`id` null). `code` is stable, e.g.
    `invalid_arguments`, `read_only`, `malformed_frame`, `frame_too_large`, `cancelled`."""

    type: Literal["error"] = "error"
    id: str | None = None
    code: str
    message: str


class Close(Frame):
    """Sent just before the server closes the socket, repeating the close code and reason."""

    type: Literal["close"] = "close"
    code: int
    reason: str = ""


ServerFrame = Annotated[
    Identity | State | StatePatch | Result | Chunk | End | Error | Close, pydantic.Field(discriminator="type")
]
server_frames: pydantic.TypeAdapter[ServerFrame] = pydantic.TypeAdapter(ServerFrame)


class FrameError(Exception):
    """A text frame that claims to be a protocol frame but is not valid (or is too large).
    `call_id`: the frame's `id` when it could be read, so the caller's call fails instead of
    waiting for a reply that will never come."""

    def __init__(self, code: str, message: str, call_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.call_id = call_id


#: The `id` of a frame too large to parse, read from its first bytes (frames start with it).
_LEADING_ID = re.compile(r'"id"\s*:\s*"([^"\\]{1,200})"')


def _peek_id(text: str) -> str | None:
    found = _LEADING_ID.search(text[:512]) if text.startswith("{") else None
    return found.group(1) if found else None


def parse_client_text(text: str, limit: int = MAX_FRAME_BYTES) -> ClientFrame | None:
    """The protocol frame in a text message, or None if it is a user message for `on_message`."""
    if len(text) > limit and len(text.encode()) > limit:
        raise FrameError("frame_too_large", f"frame exceeds {limit} bytes", _peek_id(text))
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    except RecursionError:  # nested past what the decoder takes: no message of anyone's
        raise FrameError("malformed_frame", "the frame nests too deeply to decode", None) from None
    if not isinstance(data, dict) or data.get("type") not in CLIENT_TYPES:
        return None
    try:
        return _client_frames.validate_python(data)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'][1:])) or 'frame'}: {e['msg']}" for e in exc.errors()
        )
        call_id = data.get("id") if isinstance(data.get("id"), str) and data.get("id") else None
        raise FrameError("malformed_frame", f"invalid {data['type']} frame: {problems}", call_id) from None


def error_frame(exc: BaseException, call_id: str | None = None) -> Error:
    """An error frame for an exception: ray-agents errors keep their code; others are `exception`."""
    wire = to_wire(exc)
    return Error(id=call_id, code=wire.code, message=wire.message)
