"""Deno backend: the model writes TypeScript; each run is a fresh `deno` process with no permissions.

Isolation
- `deno run` with no `--allow-*` flag, `--no-prompt --no-remote --no-npm --no-config --no-lock`, a fresh
  empty `DENO_DIR`/`HOME` in a per-run temporary directory (also the working directory) and an otherwise
  empty environment. Network, files, environment, subprocesses and FFI are all denied by Deno.
- The program reaches Deno only through the fixed runner (`deno_runner.py`), which reads it from stdin and
  imports it from a `data:` URL built at run time (a non-literal dynamic import).

Limits
- Heap: `--v8-flags=--max-old-space-size=memory_mb`. ArrayBuffers live outside that heap, so the process
  also gets `RLIMIT_DATA` = memory_mb + `_V8_RESERVED_MB` (V8 reserves ~512 MiB of writable address space
  for its code range at start-up, which RLIMIT_DATA counts). `RLIMIT_AS` would crash V8, so it is not used.
- CPU: `RLIMIT_CPU` (SIGXCPU at `cpu_s`, SIGKILL a second later); wall clock: `timeout_s`.
- Tool calls: one more than `max_tool_calls` ends the run at once (the host counts each call as it reads
  it); at most `max_parallel_tool_calls` are in flight, and the host reads nothing more from the sandbox
  until one is answered, so a flood of calls (or a program that stops reading replies) holds no more than
  that many tasks and replies in the host.
- The sandbox is started through small wrappers (util-linux and coreutils, exec'd in turn, so nothing
  runs in a `preexec_fn`, which is unsafe in a multi-threaded host such as a Ray worker):
  `setpriv --pdeathsig KILL` (the kernel kills it when the host dies, even by SIGKILL), `prlimit` (the
  rlimits above, in place before `deno` starts), `timeout --signal=KILL` (a wall-clock watchdog,
  `timeout_s` + `_WATCHDOG_GRACE_S`, that needs no help from the host), and `setpriv --pdeathsig KILL`
  again for `deno` itself, the watchdog's child. So a sandbox dies with its host whatever the program
  does, even one blocked without using CPU (`Atomics.wait`).
- Every run is its own session (`start_new_session=True`); the whole process group is SIGKILLed when the
  run ends for any reason (result, error, timeout, limit, exception, asyncio cancellation).

Output vs protocol
Protocol lines go to stdout prefixed with a random per-run nonce that only the host and the runner know
(it travels over stdin before the program is loaded). Anything else on stdout or stderr is the program's
output and becomes logs, so printing can never forge a message. Even a program that tampers with the
runner to learn the nonce gains nothing it could not do through `tools`: every message is still
validated here (listed tools only, arguments checked, sizes capped). A bare empty line on stdout is taken
for the runner's line separator, so `console.log("")` does not appear in the logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import os
import secrets
import signal
import tempfile
from collections.abc import AsyncIterator
from typing import Annotated, Any, ClassVar, Literal

import pydantic

from agents.codemode.deno_runner import RUNNER_JS
from agents.codemode.executor import Executor
from agents.codemode.limits import Limits
from agents.codemode.result import CodeResult, LogBuffer
from agents.codemode.tools import ToolCallError, ToolSet

_V8_RESERVED_MB = 640
#: Seconds past `timeout_s` after which the watchdog (`timeout`) kills a sandbox the host failed to end.
_WATCHDOG_GRACE_S = 5
_MIB = 1024 * 1024


class _Call(pydantic.BaseModel):
    type: Literal["call"]
    id: int
    tool: str
    args: Any = None


class _Done(pydantic.BaseModel):
    type: Literal["done"]
    result: Any = None


class _Failed(pydantic.BaseModel):
    type: Literal["error"]
    error: str


_MESSAGE: pydantic.TypeAdapter[_Call | _Done | _Failed] = pydantic.TypeAdapter(
    Annotated[_Call | _Done | _Failed, pydantic.Field(discriminator="type")]
)


class _SandboxGone(Exception):
    """The sandbox broke the protocol or died; the message says how."""


@functools.cache
def find_deno() -> str:
    """Path of the `deno` binary shipped by the `deno` package on PyPI."""
    import deno

    return deno.find_deno_bin()


def _command(deno: str, runner: str, limits: Limits) -> list[str]:
    """`deno run` behind the wrappers that bound it whatever the program does (see the module docstring)."""
    data = (limits.memory_mb + _V8_RESERVED_MB) * _MIB
    cpu = math.ceil(limits.cpu_s)
    die_with_parent = ["setpriv", "--pdeathsig", "KILL", "--"]
    return [
        *die_with_parent,
        "prlimit", f"--data={data}:{data}", f"--cpu={cpu}:{cpu + 1}", "--core=0:0", "--",
        "timeout", "--signal=KILL", f"{math.ceil(limits.timeout_s) + _WATCHDOG_GRACE_S}",
        *die_with_parent,
        deno, "run", "--quiet", "--no-prompt", "--no-remote", "--no-npm", "--no-config", "--no-lock",
        "--no-code-cache", f"--v8-flags=--max-old-space-size={limits.memory_mb}", runner,
    ]  # fmt: skip


def _environment(workdir: str) -> dict[str, str]:
    return {
        "DENO_DIR": os.path.join(workdir, "deno_dir"),
        "HOME": workdir,
        "NO_COLOR": "1",
        "DENO_NO_UPDATE_CHECK": "1",
    }


def _kill_group(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:  # already reaped: its pid (and group id) may belong to someone else
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def _drain(process: asyncio.subprocess.Process) -> None:
    """Read a killed sandbox's pipes to their end: a reader paused on a full buffer (the host stopped
    reading) would never see the end of its pipe, and `wait()` waits for that too."""
    for stream in (process.stdout, process.stderr):
        assert stream is not None
        while await stream.read(1 << 16):
            pass


def _exit_reason(returncode: int | None, limits: Limits) -> str:
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return f"CPU time limit exceeded ({limits.cpu_s:g} s)"
    if returncode in (-signal.SIGTRAP, -signal.SIGABRT, -signal.SIGSEGV):
        return f"out of memory (limit {limits.memory_mb} MiB)"
    return f"sandbox exited unexpectedly (exit code {returncode})"


class DenoExecutor(Executor):
    """Runs TypeScript/JavaScript in a fresh, permissionless Deno process per run."""

    language: ClassVar[Literal["typescript"]] = "typescript"

    def __init__(self, deno_path: str | None = None) -> None:
        self._deno = deno_path

    async def _execute(self, code: str, toolset: ToolSet, limits: Limits, logs: LogBuffer) -> CodeResult:
        deno = self._deno or find_deno()
        if not os.access(deno, os.X_OK):  # the wrappers would only report it as exit code 127
            raise FileNotFoundError(f"no deno executable at {deno}")
        with tempfile.TemporaryDirectory(prefix="codemode-deno-") as workdir:
            runner = os.path.join(workdir, "runner.js")
            with open(runner, "w", encoding="utf-8") as f:
                f.write(RUNNER_JS)
            process = await asyncio.create_subprocess_exec(
                *_command(deno, runner, limits),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=workdir,
                env=_environment(workdir),
                start_new_session=True,
                limit=limits.max_message_bytes + 256,
            )
            try:
                return await _Session(process, toolset, limits, logs).run(code)
            except _SandboxGone as exc:
                return CodeResult(error=str(exc), logs=logs.getvalue())
            finally:
                _kill_group(process)
                await _drain(process)
                await process.wait()


class _Session:
    """One conversation with the runner: send the program, answer tool calls, collect the outcome."""

    def __init__(
        self, process: asyncio.subprocess.Process, toolset: ToolSet, limits: Limits, logs: LogBuffer
    ) -> None:
        self._process = process
        self._toolset = toolset
        self._limits = limits
        self._logs = logs
        self._nonce = secrets.token_hex(16)

    async def run(self, code: str) -> CodeResult:
        assert self._process.stderr is not None
        stderr = asyncio.ensure_future(self._pump(self._process.stderr))
        try:
            init = {
                "nonce": self._nonce,
                "code": code,
                "tools": list(self._toolset.specs),
                "max_message_bytes": self._limits.max_message_bytes,
            }
            await self._send_line(json.dumps(init))
            outcome = await self._converse()
            # The runner exits right after its last message; let the logs it wrote to stderr arrive too.
            await self._process.wait()
            await stderr
            if isinstance(outcome, _Done):
                return CodeResult(result=outcome.result, logs=self._logs.getvalue())
            if isinstance(outcome, _Failed):
                return CodeResult(error=outcome.error, logs=self._logs.getvalue())
            raise _SandboxGone(_exit_reason(self._process.returncode, self._limits))
        finally:
            stderr.cancel()

    async def _converse(self) -> _Done | _Failed | None:
        """Answer tool calls until the runner's final message; None if stdout closes without one."""
        stdout = self._process.stdout
        assert stdout is not None
        prefix = self._nonce.encode() + b" "
        async for line, complete in self._lines(stdout):
            if not line.startswith(prefix):
                if line != b"\n":
                    self._log(line)
                continue
            if not complete:
                raise _SandboxGone("sandbox sent a message larger than max_message_bytes")
            try:
                message = _MESSAGE.validate_json(line[len(prefix) :])
            except pydantic.ValidationError:
                raise _SandboxGone("sandbox sent a malformed protocol message") from None
            if isinstance(message, _Call):  # read no further while the calls in flight are at their cap
                await self._toolset.room()
                self._toolset.charge()  # one call too many ends the run (LimitExceeded)
                self._toolset.track(self._answer(message))
            else:
                return message
        return None

    async def _answer(self, call: _Call) -> None:
        try:
            value = await self._toolset.invoke(call.tool, kwargs=call.args)
            reply = json.dumps({"id": call.id, "ok": True, "value": value}, allow_nan=False)
        except (ToolCallError, ValueError) as exc:
            reply = json.dumps({"id": call.id, "ok": False, "error": str(exc)})
        await self._send_line(reply)

    async def _send_line(self, line: str) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a dead sandbox shows up as EOF
            stdin.write(line.encode() + b"\n")
            await stdin.drain()

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        async for line, _ in self._lines(stream):
            self._log(line)

    async def _lines(self, stream: asyncio.StreamReader) -> AsyncIterator[tuple[bytes, bool]]:
        """Lines of a stream, as `(data, complete)`: a line longer than the stream's limit comes in pieces,
        so logs from stdout and stderr interleave line by line and no read is unbounded."""
        while True:
            try:
                yield await stream.readuntil(b"\n"), True
            except asyncio.IncompleteReadError as exc:  # end of stream
                if exc.partial:
                    yield exc.partial, False
                return
            except asyncio.LimitOverrunError:
                yield await stream.read(self._limits.max_message_bytes), False

    def _log(self, data: bytes) -> None:
        self._logs.write(data.decode("utf-8", errors="replace"))
