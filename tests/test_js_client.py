"""The TypeScript client (clients/js): node's test runner against the session's Serve app, the
type tests over `ray-agents types` output, and the served bundle being the build's."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from agents.cli import cli
from tests.services import missing

JS = Path(__file__).parent.parent / "clients" / "js"
TYPES = JS / "test" / "types"
NODE = shutil.which("node")


@pytest.fixture(scope="module")
def node() -> str:
    """node, with the package's dependencies installed and the package built (`make install`)."""
    if NODE is None:
        missing("node", "nodejs")
    if not (JS / "node_modules" / ".bin" / "tsc").exists():
        pytest.fail("clients/js has no node_modules: run `make install` (npm ci in clients/js)")
    build = subprocess.run(["npm", "run", "-s", "build"], cwd=JS, capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stdout + build.stderr
    return NODE


def _node_flags(node: str) -> list[str]:
    """Node 20 has WebSocket behind a flag (22 has it by default)."""
    version = subprocess.run([node, "-p", "process.versions.node"], capture_output=True, text=True).stdout
    major = int(version.split(".")[0])
    return ["--experimental-websocket"] if major < 22 else []


def test_served_bundle_is_the_build(node: str) -> None:
    """serve/static/agents.js (what /static/agents.js serves) is what clients/js builds."""
    check = subprocess.run([node, "build.mjs", "--check"], cwd=JS, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr


async def test_node_client_against_serve(node: str, served: str, agent_id: str) -> None:
    """clients/js/test/*.test.mjs: state sync, patches and resync, calls and errors, streams,
    cancel, reconnect with queued calls, acknowledgements, refusals; JSON Patch on the protocol
    fixtures; the chat session's parts, resume and approvals."""
    env = {**os.environ, "RAY_AGENTS_URL": served, "RAY_AGENTS_ID": agent_id}
    tests = sorted(str(p.relative_to(JS)) for p in (JS / "test").glob("*.test.mjs"))
    run = subprocess.run(
        [node, *_node_flags(node), "--test", "--test-reporter=tap", *tests],
        cwd=JS,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    summary = dict(re.findall(r"^# (tests|pass|fail) (\d+)$", run.stdout, re.MULTILINE))
    assert run.returncode == 0 and summary.get("fail") == "0", run.stdout[-6000:] + run.stderr[-2000:]
    assert int(summary["pass"]) >= 13


def _tsc(case: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(JS / "node_modules" / ".bin" / "tsc"), "-p", f"test/types/tsconfig.{case}.json"],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_generated_types_make_wrong_calls_compile_errors(node: str) -> None:
    """`ray-agents types examples.app:app` > agents.d.ts; pass.ts type-checks, and fail.ts fails
    on exactly its lines marked `// error` (a wrong argument, an unknown method, a wrong result
    type, a missing argument, a field a stream item lacks)."""
    generated = CliRunner().invoke(cli, ["types", "examples.app:app"])
    assert generated.exit_code == 0, generated.output
    assert 'export interface Agents {\n  counter: Counter;\n  "chat-room": ChatRoom;' in generated.output
    assert "  add(n?: number): number;" in generated.output
    (TYPES / "agents.d.ts").write_text(generated.output)

    passing = _tsc("pass")
    assert passing.returncode == 0, passing.stdout
    failing = _tsc("fail")
    errors = re.findall(r"^test/types/fail\.ts\((\d+),\d+\): error", failing.stdout, re.MULTILINE)
    reported = {int(n) for n in errors}
    lines = (TYPES / "fail.ts").read_text().splitlines()
    marked = {i for i, line in enumerate(lines, 1) if line.rstrip().endswith("// error")}
    assert failing.returncode != 0 and len(marked) == 9
    assert reported == marked, failing.stdout
