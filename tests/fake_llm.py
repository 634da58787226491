"""A local fake of the OpenAI chat completions API, for offline tests and benchmarks.

It speaks `POST /v1/chat/completions` with `stream=true` (server-sent events) so litellm's real
HTTP and streaming path runs (`model="openai/<key>"`, `api_base=server.url`, `api_key="x"`).

Replies are scripted per model key: `server.script("k", Reply(text="hi"), Reply(calls=[...]))`
queues canned replies that requests for model `k` take in order. A model key that is not scripted
and reads `tokens-N` streams N one-word tokens with no delay (benchmarks); any other unscripted key
answers "ok". `Reply(hold_after=n)` streams n text pieces, sets `reached`, and waits for `release`
before streaming the rest, so a test can act "mid-stream" without sleeping.

    with FakeLLM() as server: ...              # in a thread of this process (tests)
    python -m tests.fake_llm --port 8011       # as its own process (benchmarks)
    SERVER = shared()                          # the one server every test module of a run shares
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse


@dataclass(frozen=True)
class Call:
    """A tool call the fake model makes: `arguments` is sent verbatim if a string, else as JSON."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str = field(default_factory=lambda: f"call_{uuid.uuid4().hex[:10]}")

    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass
class Reply:
    """One canned reply: text (streamed word by word), tool calls, or both."""

    text: str = ""
    calls: list[Call] = field(default_factory=list)
    hold_after: int | None = None
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    #: Set if the caller went away before the reply was streamed to its end.
    closed_early: threading.Event = field(default_factory=threading.Event)

    def pieces(self) -> list[str]:
        words = self.text.split(" ")
        return [w if i == 0 else f" {w}" for i, w in enumerate(words)] if self.text else []


def _chunk(
    model: str, delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None
) -> str:
    """One streamed chunk; with `usage`, the usage chunk (no choices) OpenAI ends a stream with."""
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        body["choices"], body["usage"] = [], usage
    return f"data: {json.dumps(body)}\n\n"


class FakeLLM:
    """The fake server and its scripts; a context manager that runs it on a free local port."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        #: Every request body received, per model key, in order.
        self.requests: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._lock = threading.Lock()
        self.app = self._build_app()
        self._server: uvicorn.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, key: str, *replies: Reply) -> list[Reply]:
        """Queue replies for model `key`; returns them (to wait on `reached` / set `release`)."""
        with self._lock:
            self._scripts[key].extend(replies)
        return list(replies)

    def _next_reply(self, key: str) -> Reply:
        with self._lock:
            if self._scripts[key]:
                return self._scripts[key].popleft()
        if key.startswith("tokens-"):
            return Reply(text=" ".join(f"t{i}" for i in range(int(key.removeprefix("tokens-")))))
        return Reply(text="ok")

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> StreamingResponse:
            body = await request.json()
            key = body["model"]
            with self._lock:
                self.requests[key].append(body)
            reply = self._next_reply(key)
            usage = (body.get("stream_options") or {}).get("include_usage", False)
            prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in body.get("messages", []))
            return StreamingResponse(
                self._stream(key, reply, prompt_tokens if usage else None), media_type="text/event-stream"
            )

        return app

    async def _stream(self, model: str, reply: Reply, prompt_tokens: int | None) -> AsyncIterator[str]:
        """The reply as OpenAI's chunks; with `prompt_tokens` (the request asked for usage), a last
        chunk with the usage (a word is a token), as OpenAI sends it."""
        finished = False
        try:
            yield _chunk(model, {"role": "assistant", "content": ""})
            for i, piece in enumerate(reply.pieces()):
                if reply.hold_after is not None and i == reply.hold_after:
                    reply.reached.set()
                    await asyncio.to_thread(reply.release.wait)
                yield _chunk(model, {"content": piece})
            for index, call in enumerate(reply.calls):
                head = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name}}
                yield _chunk(
                    model, {"tool_calls": [{**head, "function": {**head["function"], "arguments": ""}}]}
                )
                arguments = {"index": index, "function": {"arguments": call.arguments_json()}}
                yield _chunk(model, {"tool_calls": [arguments]})
            yield _chunk(model, {}, "tool_calls" if reply.calls else "stop")
            if prompt_tokens is not None:
                completion = len(reply.pieces()) + len(reply.calls)
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion}
                usage["total_tokens"] = prompt_tokens + completion
                yield _chunk(model, {}, usage=usage)
            yield "data: [DONE]\n\n"
            finished = True
        finally:
            if not finished:
                reply.closed_early.set()

    # ---- running it --------------------------------------------------------------------------

    def __enter__(self) -> FakeLLM:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        threading.Thread(target=self._server.run, name="fake-llm", daemon=True).start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake LLM server did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True


_SHARED: FakeLLM | None = None


def shared(env_var: str = "FAKE_LLM_URL") -> FakeLLM:
    """The one in-thread server of this test process (started on first use), its URL exported as
    `env_var`. Call it at import time, before the session's `ray.init`, so that agent processes
    inherit the URL; every test module that needs the fake model shares it (scripts are per key)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = FakeLLM().__enter__()
    os.environ[env_var] = _SHARED.url
    return _SHARED


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    uvicorn.run(FakeLLM().app, host="127.0.0.1", port=parser.parse_args().port, log_level="warning")
