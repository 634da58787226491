"""The `Executor` interface every sandbox backend implements, and the `run_code` entry points."""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

from agents import events
from agents.codemode.limits import LimitExceeded, Limits, run_slot
from agents.codemode.result import CodeResult, LogBuffer
from agents.codemode.stubs import Language, describe_tools
from agents.codemode.tools import ToolSet, ToolSpec, as_specs

log = logging.getLogger(__name__)

Tool = Callable[..., Any] | ToolSpec


class Executor(abc.ABC):
    """Runs one untrusted program against a set of tools in a sandbox.

    `run` never raises into the caller (cancellation aside): whatever the program does, the outcome is a
    `CodeResult`. Each run holds one of the process-wide and node-wide run slots (see
    `set_max_concurrent_runs`); the wait for them counts against its `timeout_s`. However the run ends,
    its tool calls are cancelled and awaited before `run` returns (`ToolSet.close`).
    """

    language: ClassVar[Language]

    async def run(self, code: str, tools: Sequence[Tool] = (), limits: Limits | None = None) -> CodeResult:
        """Run `code` with access to `tools` only, within `limits`."""
        limits = limits or Limits()
        deadline = asyncio.get_running_loop().time() + limits.timeout_s
        try:
            toolset = ToolSet(tools, limits)
        except Exception as exc:  # a bad tool list is the host's bug, but still no raise into the agent
            return CodeResult(error=f"invalid tools: {exc}")
        logs = LogBuffer(limits.max_log_bytes)
        try:
            async with run_slot(deadline):
                return await self._bounded(code, toolset, limits, logs, deadline)
        except TimeoutError:
            error = f"timed out after {limits.timeout_s:g} s waiting for a free sandbox slot (all busy)"
            return CodeResult(error=error, limit="timeout_s")
        finally:
            await toolset.close()

    async def _bounded(
        self, code: str, toolset: ToolSet, limits: Limits, logs: LogBuffer, deadline: float
    ) -> CodeResult:
        """`_execute` until it ends, the deadline passes or a tool limit is hit, whichever comes first."""
        work = asyncio.ensure_future(self._execute(code, toolset, limits, logs))
        try:
            timeout = deadline - asyncio.get_running_loop().time()
            await asyncio.wait(
                {work, toolset.exceeded}, timeout=max(timeout, 0), return_when="FIRST_COMPLETED"
            )
        finally:
            if not work.done():
                work.cancel()
                await asyncio.wait({work})  # the backend's own cleanup (killing its sandbox) runs first
        if toolset.exceeded.done():
            return _limited(toolset.exceeded.result(), logs)
        if work.cancelled():
            return CodeResult(
                error=f"timed out after {limits.timeout_s:g} s", logs=logs.getvalue(), limit="timeout_s"
            )
        exc = work.exception()
        if isinstance(exc, LimitExceeded):
            return _limited(exc, logs)
        if exc is not None:
            log.error("code mode backend %s failed", type(self).__name__, exc_info=exc)
            return CodeResult(error=f"sandbox failure: {type(exc).__name__}: {exc}", logs=logs.getvalue())
        return work.result()

    @abc.abstractmethod
    async def _execute(self, code: str, toolset: ToolSet, limits: Limits, logs: LogBuffer) -> CodeResult:
        """Run the program, writing its output to `logs`; may raise on host-side failures or
        `LimitExceeded` (run() turns those into a CodeResult). run() enforces `timeout_s`."""


def _limited(exc: LimitExceeded, logs: LogBuffer) -> CodeResult:
    return CodeResult(error=str(exc), logs=logs.getvalue(), limit=exc.limit)


def executor_for(language: Language) -> Executor:
    """The default executor for a language: Deno for TypeScript, Monty for Python."""
    from agents.codemode.deno import DenoExecutor
    from agents.codemode.monty import MontyExecutor

    for cls in (DenoExecutor, MontyExecutor):
        if cls.language == language:
            return cls()
    raise ValueError(f"no executor for language {language!r}; use 'typescript' or 'python'")


async def run_code(
    code: str,
    tools: Sequence[Tool] = (),
    language: Language = "typescript",
    limits: Limits | None = None,
) -> CodeResult:
    """Run a model-written program in a sandbox with access to `tools`; never raises into the caller.

    An agent method can simply `return await run_code(code, tools=[self.search], language="python")`.
    """
    return await _observed(executor_for(language), code, tools, limits)


async def _observed(
    executor: Executor, code: str, tools: Sequence[Tool], limits: Limits | None
) -> CodeResult:
    """Run the program, and emit its `codemode:run` or `codemode:error` event (inside a turn)."""
    started = time.monotonic()
    result = await executor.run(code, tools, limits)
    facts: dict[str, Any] = {"language": executor.language}
    if result.ok:
        events.emit_in_turn("codemode:run", time.monotonic() - started, **facts)
    else:
        events.emit_in_turn(
            "codemode:error", time.monotonic() - started, **facts, error=result.limit or "error"
        )
    return result


_INSTRUCTIONS: dict[str, str] = {
    "typescript": (
        "Run a TypeScript program in a sandbox (no network, files or environment). The code is the body of "
        "an async function: use `await`, and `return` a JSON-serialisable result. Call tools as "
        "`await tools.name({arg: value})`; a failed call throws a ToolError. console.log output is "
        "returned as logs. Available tools:"
    ),
    "python": (
        "Run a Python program in a sandbox (a safe subset of Python: no imports beyond a few standard "
        "modules, no files, network or environment). The value of the last expression is the result. "
        "Call tools as `await name(arg=value)`; a failed call raises an exception. print() output is "
        "returned as logs. The program is type-checked against these tool stubs:"
    ),
}


def codemode_tool(
    tools: Sequence[Tool], language: Language = "typescript", limits: Limits | None = None
) -> Callable[[str], Awaitable[CodeResult]]:
    """A plain async function `run_code(code: str) -> CodeResult` a ChatAgent can expose to its model.

    Its docstring carries the instructions and the generated tool declarations.
    """
    specs = as_specs(tools)
    executor = executor_for(language)

    async def run_code(code: str) -> CodeResult:
        return await _observed(executor, code, specs, limits)

    run_code.__doc__ = f"{_INSTRUCTIONS[language]}\n\n{describe_tools(specs, language)}"
    return run_code
