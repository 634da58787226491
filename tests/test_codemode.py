"""Code Mode: tool declarations, calls into the host, limits on concurrency, and process cleanup."""

from __future__ import annotations

import asyncio
import inspect
import os
import sys

import pydantic
import pytest

from agents.codemode import (
    CodeResult,
    DenoExecutor,
    Limits,
    codemode_tool,
    describe_tools,
    run_code,
    set_max_concurrent_runs,
)
from agents.codemode.limits import DEFAULT_MAX_CONCURRENT_RUNS
from tests.waiting import eventually

BACKENDS = pytest.mark.parametrize("language", ["typescript", "python"])


class Doc(pydantic.BaseModel):
    """A search hit."""

    title: str
    score: float = 0.0


async def search(query: str, limit: int = 2) -> list[Doc]:
    """Search the corpus."""
    return [Doc(title=f"{query} {i}", score=1.0 / (i + 1)) for i in range(limit)]


async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def best(docs: list[Doc]) -> Doc:
    """The highest-scoring doc (a sync tool taking models)."""
    return max(docs, key=lambda d: d.score)


async def fail() -> int:
    """Always fails."""
    raise LookupError("nothing here")


def sandbox_children() -> dict[int, str]:
    """Live (non-zombie) child processes of this test process, from /proc: pid -> state and command."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
            children[int(entry)] = f"[{fields[0]}] {command}"
    return children


async def no_new_children(before: dict[int, str]) -> None:
    """Wait until no sandbox process started since `before` is alive. Monty's pool can return a few
    milliseconds before its worker has finished exiting (no event tells us), hence the short poll."""

    async def gone() -> bool:
        return sandbox_children().keys() <= before.keys()

    try:
        await eventually(gone, timeout=3)
    except AssertionError:
        raise AssertionError(f"sandbox processes outlived their run: {sandbox_children()}") from None


# -- declarations -------------------------------------------------------------------------------------


def test_typescript_declarations_come_from_type_hints() -> None:
    text = describe_tools([search, add], "typescript")
    assert "interface Doc {" in text and "title: string;" in text and "score?: number;" in text
    assert "search(args: {\n    query: string;\n    limit?: number;\n  }): Promise<Array<Doc>>;" in text
    assert "add(args: {\n    a: number;\n    b: number;\n  }): Promise<number>;" in text
    assert "Search the corpus." in text


def test_python_stubs_come_from_type_hints() -> None:
    text = describe_tools([search, best], "python")
    doc_class = 'class Doc(TypedDict):\n    """A search hit."""\n    title: str\n'
    assert doc_class in text and "    score: NotRequired[float]" in text
    search_stub = 'async def search(query: str, limit: int = ...) -> list[Doc]:\n    """Search the corpus."""'
    assert search_stub in text
    assert "async def best(docs: list[Doc]) -> Doc:" in text


def test_codemode_tool_is_a_plain_documented_function() -> None:
    run = codemode_tool([search], "python")
    assert run.__name__ == "run_code"
    assert list(inspect.signature(run).parameters) == ["code"]
    assert "async def search(query: str" in (run.__doc__ or "")


def test_tools_with_varargs_are_refused() -> None:
    def loose(*args: int) -> int:
        return 0

    with pytest.raises(ValueError, match=r"\*args"):
        describe_tools([loose], "typescript")


# -- running ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "code"),
    [
        (
            "typescript",
            "console.log('searching');\n"
            "const docs: Doc[] = await tools.search({query: 'ray'});\n"
            "const top = await tools.best({docs});\n"
            "return {top: top.title, total: await tools.add({a: docs.length, b: 40})};",
        ),
        (
            "python",
            "print('searching')\n"
            "docs = await search('ray')\n"
            "top = await best(docs)\n"
            "{'top': top['title'], 'total': await add(len(docs), 40)}",
        ),
    ],
)
async def test_program_calls_tools_and_returns_json(language: str, code: str) -> None:
    result = await run_code(code, tools=[search, best, add], language=language)  # type: ignore[arg-type]
    assert result == CodeResult(result={"top": "ray 0", "total": 42}, logs="searching\n")


@pytest.mark.parametrize(
    ("language", "code"),
    [
        ("typescript", "try { await tools.fail(); } catch (e) { return `${e.name}: ${e.message}`; }"),
        ("python", "try:\n    r = await fail()\nexcept Exception as e:\n    r = str(e)\nr"),
    ],
)
async def test_a_failing_tool_raises_inside_the_program(language: str, code: str) -> None:
    result = await run_code(code, tools=[fail], language=language)  # type: ignore[arg-type]
    assert result.error is None
    assert "fail() failed: LookupError: nothing here" in result.result


@pytest.mark.parametrize(
    ("language", "code"),
    [
        ("typescript", "const [a, b] = await Promise.all([tools.meet({}), tools.meet({})]); return a + b;"),
        ("python", "import asyncio\nr = await asyncio.gather(meet(), meet())\nr[0] + r[1]"),
    ],
)
async def test_tool_calls_from_one_program_run_concurrently(language: str, code: str) -> None:
    both_in = asyncio.Event()
    arrived = 0

    async def meet() -> int:
        """Returns once two calls are in flight at the same time."""
        nonlocal arrived
        arrived += 1
        if arrived == 2:
            both_in.set()
        await asyncio.wait_for(both_in.wait(), 5)
        return 1

    result = await run_code(code, tools=[meet], language=language)  # type: ignore[arg-type]
    assert result.result == 2, result


@BACKENDS
async def test_tool_call_budget(language: str) -> None:
    code = {
        "typescript": "for (let i = 0; i < 5; i++) await tools.add({a: i, b: 0}); return 'all done';",
        "python": "for i in range(5):\n    await add(i, 0)\n'all done'",
    }[language]
    result = await run_code(code, tools=[add], language=language, limits=Limits(max_tool_calls=3))  # type: ignore[arg-type]
    assert result.result is None
    assert "tool call limit reached" in (result.error or "")


async def test_python_is_type_checked_before_it_runs() -> None:
    called = False

    async def record(n: int) -> int:
        nonlocal called
        called = True
        return n

    result = await run_code("print('ran')\nawait record('seven')", tools=[record], language="python")
    assert "type check failed" in (result.error or "") and "record" in (result.error or "")
    assert result.logs == "" and not called


@pytest.mark.parametrize(
    ("language", "code", "message"),
    [
        ("typescript", "return {{;", "SyntaxError"),
        ("typescript", "return 10n;", "BigInt"),
        ("typescript", "throw new Error('boom');", "Error: boom\n    at Module.default (program.ts:2:"),
        ("python", "x = (", "invalid-syntax"),
        ("python", "1 / 0", "ZeroDivisionError"),
    ],
)
async def test_program_errors_are_reported_not_raised(language: str, code: str, message: str) -> None:
    result = await run_code(code, language=language)  # type: ignore[arg-type]
    assert result.result is None
    assert message in (result.error or ""), result.error


async def test_run_never_raises_on_host_side_failure() -> None:
    result = await DenoExecutor(deno_path="/nonexistent/deno").run("return 1")
    assert result.error is not None and "sandbox failure" in result.error


async def test_codemode_tool_runs_programs() -> None:
    run = codemode_tool([add], "typescript")
    result = await run("return await tools.add({a: 2, b: 3});")
    assert result.result == 5


async def test_max_concurrent_runs_caps_parallel_programs() -> None:
    release = asyncio.Event()
    holding = asyncio.Event()

    async def hold() -> int:
        """Keeps the first program inside its sandbox until the test releases it."""
        holding.set()
        await release.wait()
        return 1

    set_max_concurrent_runs(1)
    try:
        first = asyncio.ensure_future(run_code("return await tools.hold({});", tools=[hold]))
        await asyncio.wait_for(holding.wait(), 10)
        second = asyncio.ensure_future(run_code("return 2;"))
        done, _ = await asyncio.wait({second}, timeout=0.5)
        assert not done, "the second run must wait for the only slot"
        release.set()
        assert (await first).result == 1 and (await second).result == 2
    finally:
        set_max_concurrent_runs(DEFAULT_MAX_CONCURRENT_RUNS)


async def test_node_wide_slots_are_shared_by_every_process_on_the_machine() -> None:
    """Another process (think: another agent) holding every node slot makes this run wait."""
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import fcntl, os, sys\n"
        "from agents.codemode.limits import NODE_SLOTS, _SLOT_DIR\n"
        "_SLOT_DIR.mkdir(exist_ok=True)\n"
        "fds = [os.open(_SLOT_DIR / f'{i}.lock', os.O_CREAT | os.O_RDWR) for i in range(NODE_SLOTS)]\n"
        "[fcntl.flock(fd, fcntl.LOCK_EX) for fd in fds]\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdin is not None and holder.stdout is not None
    assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"held\n"
    run = asyncio.ensure_future(run_code("return 7;"))
    done, _ = await asyncio.wait({run}, timeout=0.5)
    assert not done, "the run must wait while another process holds every node slot"
    holder.stdin.close()  # the holder exits; the kernel releases its locks
    await holder.wait()
    assert (await asyncio.wait_for(run, 30)).result == 7


# -- processes never outlive their run ---------------------------------------------------------------

SPIN = {"typescript": "while (true) {}", "python": "while True:\n    pass"}
SIGNAL_THEN_SPIN = {
    "typescript": "await tools.started({}); while (true) {}",
    "python": "await started()\nwhile True:\n    pass",
}


@BACKENDS
async def test_no_process_left_after_timeout(language: str) -> None:
    before = sandbox_children()
    limits = Limits(timeout_s=1, cpu_s=30)
    result = await run_code(SPIN[language], language=language, limits=limits)  # type: ignore[arg-type]
    assert result.error == "timed out after 1 s"
    await no_new_children(before)


@BACKENDS
async def test_no_process_left_after_cancellation(language: str) -> None:
    before = sandbox_children()
    running = asyncio.Event()

    async def started() -> None:
        running.set()

    limits = Limits(cpu_s=30, timeout_s=30)
    task = asyncio.ensure_future(
        run_code(SIGNAL_THEN_SPIN[language], tools=[started], language=language, limits=limits)  # type: ignore[arg-type]
    )
    await asyncio.wait_for(running.wait(), 10)
    assert sandbox_children().keys() - before.keys(), "the sandbox process should be running now"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await no_new_children(before)
