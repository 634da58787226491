"""Monty backend: the model writes a safe subset of Python, type-checked against the tool stubs first.

The language itself has no file, network, environment, subprocess or FFI access: `open`/`pathlib` calls
reach no host filesystem (no mount or `os` handler is given), `os.getenv` is unsupported, and modules
such as `subprocess`, `socket` and `ctypes` do not exist. Tools are the only way out: each is an external
function that calls back into this process, with arguments validated like any RPC; a refused or failed
call raises inside the program.

Each run gets its own single-worker pool, so the worker process never outlives the run (it is shut down
when the pool closes, whether the run finished, failed, timed out or was cancelled), and its tool calls
are cancelled and awaited before the run returns (`ToolSet.close`). Limits: Monty's own heap cap
(`memory_mb`), execution-time cap (`cpu_s`, time spent in tools excluded), recursion depth and
suspension budget, plus the wall-clock `timeout_s` (enforced by `Executor.run`, and by the pool as its
request deadline). Monty's pipe to its worker has no size cap of its own, so `max_message_bytes` is
checked here as each message arrives: tool arguments and results (refused inside the program), the
result (an error instead) and the error text (cut). A message can be no larger than the worker's heap
(`memory_mb`) on its way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Literal

import pydantic_core
import pydantic_monty

from agents.codemode.executor import Executor
from agents.codemode.limits import LimitExceeded, Limits
from agents.codemode.result import CodeResult, LogBuffer
from agents.codemode.stubs import python_stubs
from agents.codemode.tools import ToolSet

_MIB = 1024 * 1024


def _external(toolset: ToolSet, name: str) -> Callable[..., Awaitable[Any]]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return await toolset.call(name, args, kwargs)  # ToolCallError is raised inside the program

    return call


def _monty_limits(limits: Limits) -> pydantic_monty.ResourceLimits:
    return pydantic_monty.ResourceLimits(
        max_feed_duration_secs=limits.cpu_s,
        max_memory=limits.memory_mb * _MIB,
        max_recursion_depth=limits.max_recursion_depth,
        # Tool calls are budgeted by ToolSet; this only backstops name lookups and future resolutions.
        max_suspensions=max(1000, 3 * limits.max_tool_calls),
    )


def _describe(exc: pydantic_monty.MontyError) -> str:
    if isinstance(exc, pydantic_monty.MontyTypingError):
        return f"type check failed:\n{exc.display()}"
    if isinstance(exc, pydantic_monty.MontyRuntimeError | pydantic_monty.MontySyntaxError):
        return exc.display("traceback")
    return f"sandbox crashed: {exc}"


class MontyExecutor(Executor):
    """Runs a safe Python subset in a Monty worker process, type-checked against the tool stubs."""

    language: ClassVar[Literal["python"]] = "python"

    async def _execute(self, code: str, toolset: ToolSet, limits: Limits, logs: LogBuffer) -> CodeResult:
        try:
            value = await self._feed(code, toolset, limits, logs)
        except pydantic_monty.MontyError as exc:
            return CodeResult(error=_capped(_describe(exc), limits.max_message_bytes), logs=logs.getvalue())
        result = pydantic_core.to_jsonable_python(value, fallback=repr)
        size = len(pydantic_core.to_json(result))
        if size > limits.max_message_bytes:
            limit = limits.max_message_bytes
            message = f"result of {size} bytes exceeds the limit of {limit} (max_message_bytes)"
            raise LimitExceeded("max_message_bytes", message)
        return CodeResult(result=result, logs=logs.getvalue())

    async def _feed(self, code: str, toolset: ToolSet, limits: Limits, logs: LogBuffer) -> Any:
        pool = pydantic_monty.AsyncMonty(
            min_processes=0, max_processes=1, request_timeout=limits.timeout_s + 1
        )
        async with pool:
            session = pool.checkout(
                limits=_monty_limits(limits),
                type_check=True,
                type_check_stubs=python_stubs(toolset.specs.values()),
                type_check_format="concise",
            )
            async with session:
                return await session.feed_run(
                    code,
                    external_lookup={name: _external(toolset, name) for name in toolset.specs},
                    print_callback=lambda _stream, text: logs.write(text),
                )


def _capped(text: str, max_bytes: int) -> str:
    """`text` cut to about `max_bytes` (UTF-8), saying so."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    cut = data[: max_bytes - 64].decode(errors="ignore")
    return f"{cut}\n[error cut at max_message_bytes ({max_bytes})]"
