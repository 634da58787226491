"""`ray-agents` against a real ingress on the session's Ray (in-process, as `main([...])`), and in
subprocesses where a process of its own matters (`--version`, `logs --follow`, `dev`)."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pathlib
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib import metadata

import click
import pytest
import ray
from click.testing import CliRunner

from agents import AgentDestroyedError, get_agent, handle_of
from agents.cli import cli, main
from cluster import routing
from tests.agents_for_serve import Tally
from tests.conftest import free_port

CLI = [sys.executable, "-m", "agents.cli"]


@pytest.fixture(autouse=True)
def _keep_the_session_router() -> Iterator[None]:
    """Commands that attach to Ray configure this process's router: give the next test its own."""
    previous = routing.router().config
    yield
    routing.configure(previous)


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """`ray-agents ARGV...` in this process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    ours = "".join(line for line in out.splitlines(keepends=True) if "(raylet)" not in line)
    return code, ours, err  # without what the session's raylet printed meanwhile


def test_version_from_a_shell_without_importing_ray() -> None:
    done = subprocess.run([*CLI, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout == f"ray-agents, version {metadata.version('ray-agents')} (Ray {ray.__version__})\n"
    imported = "import sys, agents.cli; print('ray' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", imported], capture_output=True, text=True).stdout == "False\n"
    )
    assert all(option.help for option in cli.params)


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_option_and_argument_is_explained(name: str) -> None:
    command = cli.commands[name]
    assert CliRunner().invoke(cli, [name, "--help"]).exit_code == 0
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name} {param.opts} has no help text"
        else:
            assert param.human_readable_name.strip(".[]") in (command.help or ""), f"{name}: {param.name}"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture) -> None:
    code, _, err = run(capsys, "call", "tally", "x", "add", "1", "n=2")
    assert code == 2 and "not both" in err
    code, _, err = run(capsys, "call", "tally", "x", "get", "-H", "no colon")
    assert code == 2 and "expected 'Name: value'" in err
    assert run(capsys, "frobnicate")[0] == 2


def test_nobody_listening_is_said_at_once_in_one_line(capsys: pytest.CaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    code, out, err = run(capsys, "state", "tally", "x", "--url", url)
    assert time.monotonic() - started < 5
    assert code == 1 and out == ""
    assert err.startswith(
        f"ray-agents state: connection_error: cannot connect to ws://{url[7:]}/agents/tally/x: "
    )
    assert "within" not in err and len(err.splitlines()) == 1
    code, out, _ = run(capsys, "call", "tally", "x", "get", "--url", url, "--format", "json")
    assert code == 1
    error = json.loads(out)["error"]
    assert error["code"] == "connection_error" and error["message"].startswith(f"cannot reach {url}: ")


def test_call_takes_keyword_arguments_and_prints_json(
    served: str, agent_id: str, capsys: pytest.CaptureFixture
) -> None:
    assert run(capsys, "call", "tally", agent_id, "add", "n=3", "--url", served) == (0, "3\n", "")
    assert run(capsys, "call", "tally", agent_id, "add", "--url", served, "--", "-1")[:2] == (0, "2\n")
    assert run(capsys, "call", "tally", agent_id, "append", '"a=b"', "--url", served)[:2] == (0, "1\n")
    assert run(capsys, "call", "tally", agent_id, "append", "item=plain", "--url", served)[:2] == (0, "2\n")
    code, out, _ = run(capsys, "call", "tally", agent_id, "get", "--url", served, "--format", "json")
    assert code == 0 and json.loads(out) == {"count": 2, "log": ["a=b", "plain"]}
    code, out, _ = run(capsys, "state", "tally", agent_id, "--url", served, "--format", "json")
    assert code == 0 and json.loads(out) == {"count": 2, "log": ["a=b", "plain"]}
    code, out, _ = run(capsys, "call", "tally", agent_id, "ticks", "3", "--url", served, "--format", "json")
    assert code == 0 and json.loads(out) == [0, 1, 2], out  # a streaming method: its items


def test_headers_reach_the_agent_and_its_errors_are_one_line(
    served: str, agent_id: str, capsys: pytest.CaptureFixture
) -> None:
    bad = ["-H", "Authorization: Bearer bad"]
    assert run(capsys, "call", "tally", agent_id, "get", "--url", served, *bad) == (
        1,
        "",
        "ray-agents call: rejected: bad token\n",
    )
    code, out, _ = run(capsys, "state", "tally", agent_id, "--url", served, *bad, "--format", "json")
    assert code == 1 and json.loads(out) == {"error": {"code": "connection_refused", "message": "bad token"}}
    good = ["-H", "Authorization: Bearer good"]
    assert run(capsys, "call", "tally", agent_id, "add", "5", "--url", served, *good)[:2] == (0, "5\n")
    code, _, err = run(capsys, "call", "tally", agent_id, "add", "five", "--url", served)
    assert code == 1 and err.startswith("ray-agents call: invalid_arguments: ") and err.count("\n") == 1
    code, _, err = run(capsys, "call", "tally", agent_id, "fail", "--url", served)
    assert code == 1 and err.startswith("ray-agents call: exception: KeyError") and err.count("\n") == 1


def test_ls_prints_a_table_with_headers_or_json(
    served: str, agent_id: str, capsys: pytest.CaptureFixture
) -> None:
    get_agent(Tally, agent_id).sync.add(1)
    code, out, _ = run(capsys, "ls", "--namespace", "t-serve")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["TYPE", "ID", "STATUS", "EPOCH", "NODE", "HOST", "ACTIVATED"]
    row = next(line for line in lines if agent_id in line).split()
    assert row[:3] == ["tally", agent_id, "live"] and row[5].startswith("ray-agents-host:")
    assert re.fullmatch(r"\d+ live, \d+ hibernated", lines[-1])
    code, out, _ = run(capsys, "ls", "--namespace", "t-serve", "--format", "json")
    listed = json.loads(out)
    mine = [a for a in listed["agents"] if a["id"] == agent_id]
    assert code == 0 and len(mine) == 1 and mine[0]["status"] == "live" and mine[0]["epoch"] >= 1
    assert listed["live"] == sum(a["status"] == "live" for a in listed["agents"])


def test_events_prints_an_agents_calls_as_lines_or_json(
    served: str, agent_id: str, capsys: pytest.CaptureFixture
) -> None:
    get_agent(Tally, agent_id).sync.add(2)
    code, out, _ = run(capsys, "events", "tally", agent_id, "--namespace", "t-serve")
    lines = out.splitlines()
    call = next(line for line in lines if " rpc " in line)
    assert code == 0 and "method=add" in call and re.search(r"\d+\.\d ms", call) and "(epoch " in call
    code, out, _ = run(capsys, "events", "tally", agent_id, "--namespace", "t-serve", "--format", "json")
    printed = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and {e["agent_id"] for e in printed} == {agent_id} and len(printed) == len(lines)
    code, out, _ = run(capsys, "events", "tally", agent_id, "--namespace", "t-serve", "--name", "checkpoint")
    assert code == 0 and out and all(" checkpoint " in line for line in out.splitlines())
    code, _, err = run(capsys, "events", "tally", agent_id, "--name", "rpc:eror")
    assert code == 2 and "unknown event names ['rpc:eror']" in err
    code, out, err = run(capsys, "events", "tally", "never-called", "--namespace", "t-serve")
    assert code == 0 and out == "" and "is not live" in err


def test_top_shows_live_agents_and_their_call_rate(
    served: str, agent_id: str, capsys: pytest.CaptureFixture
) -> None:
    tally = get_agent(Tally, agent_id).sync
    tally.add(1)
    stop = threading.Event()

    def keep_calling() -> None:
        while not stop.is_set():
            tally.add(1)

    caller = threading.Thread(target=keep_calling)
    caller.start()
    try:
        code, out, _ = run(capsys, "top", "--once", "-n", "1", "--namespace", "t-serve", "--format", "json")
    finally:
        stop.set()
        caller.join()
    row = next(r for r in json.loads(out)["types"] if r["type"] == "tally")
    assert code == 0 and row["live"] >= 1 and row["calls/s"] > 1 and row["ckpts/s"] > 1
    code, out, _ = run(capsys, "top", "--once", "-n", "0.2", "--namespace", "t-serve")
    lines = out.splitlines()
    assert code == 0 and re.match(r"ray-agents top  [\d:]{8}  \d+ hosts?  every 0.2 s$", lines[0])
    header = next(line for line in lines if line.startswith("TYPE"))
    assert header.split() == [
        "TYPE",
        "LIVE",
        "HIBERNATED",
        "CALLS/S",
        "ERRORS/S",
        "CKPTS/S",
        "WAKES/S",
        "SLEEPS/S",
        "RUNS/S",
    ]
    assert any(line.split()[:1] == ["tally"] for line in lines)


def test_start_attaches_to_the_running_cluster(served: str, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, "start", "--namespace", "t-serve")
    gcs = ray.get_runtime_context().gcs_address
    said = rf"placement controller running in namespace 't-serve' on Ray at {gcs}: \d+ live, \d+ hibernated"
    assert code == 0 and re.fullmatch(rf"{said} agents\n", out)


def test_destroy_deletes_the_agent_as_its_own_destroy_would(
    served: str, agent_id: str, capsys: pytest.CaptureFixture
) -> None:
    assert run(capsys, "call", "tally", agent_id, "add", "7", "--url", served)[0] == 0
    declined = CliRunner().invoke(cli, ["destroy", "tally", agent_id, "--namespace", "t-serve"], input="n\n")
    assert declined.exit_code == 1 and "not_confirmed: nothing was destroyed" in declined.output
    code, out, _ = run(capsys, "destroy", "tally", agent_id, "--yes", "--namespace", "t-serve")
    assert code == 0 and out == f"destroyed tally {agent_id}: its state, SQL and restore points are deleted\n"
    assert agent_id not in run(capsys, "ls", "--namespace", "t-serve")[1]
    with pytest.raises(AgentDestroyedError):
        handle_of(get_agent(Tally, agent_id)).sync.restore(1)
    code, out, _ = run(capsys, "call", "tally", agent_id, "get", "--url", served, "--format", "json")
    assert code == 0 and json.loads(out) == {"count": 0, "log": []}  # started afresh
    code, _, err = run(capsys, "destroy", "NoSuchType", agent_id, "-y", "--namespace", "t-serve")
    assert code == 1 and err.startswith("ray-agents destroy: unknown_agent_class: ")


def test_logs_shows_what_the_agent_logged_and_printed(
    served: str, agent_id: str, capsys: pytest.CaptureFixture
) -> None:
    get_agent(Tally, agent_id).sync.note("hello")
    code, out, err = run(capsys, "logs", "tally", agent_id, "--namespace", "t-serve", "--tail", "-1")
    assert code == 0 and f"{agent_id} noted hello" in out.splitlines()
    assert not any(line.startswith(":actor_name:") for line in out.splitlines())
    assert re.match(
        rf"# tally/{agent_id} epoch \d+: pooled host ray-agents-host:\S+, pid \d+ on node \w+", err
    )
    code, out, _ = run(capsys, "logs", "tally", agent_id, "--out", "--namespace", "t-serve", "--tail", "-1")
    assert code == 0 and f"{agent_id} printed hello" in out.splitlines()
    code, _, err = run(capsys, "logs", "tally", f"{agent_id}-never", "--namespace", "t-serve")
    assert (
        code == 1
        and err == f"ray-agents logs: not_live: tally {agent_id}-never is not live (see `ray-agents ls`)\n"
    )


def _lines(stream: object, deadline: float) -> Iterator[str]:
    """Lines of a subprocess's pipe as they come, until `deadline` (then a test failure). Read
    from the file descriptor itself: a buffered reader may hold lines the selector cannot see."""
    fd = stream.fileno()  # type: ignore[attr-defined]
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    pending = b""
    while True:
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            yield line.decode() + "\n"
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not selector.select(remaining):
            pytest.fail("the expected line did not come in time")
        chunk = os.read(fd, 65536)
        if not chunk:
            pytest.fail("the process ended before the expected line")
        pending += chunk


def test_logs_follow_prints_new_lines_as_they_come(served: str, agent_id: str) -> None:
    tally = get_agent(Tally, agent_id).sync
    tally.note("first")
    address = ray.get_runtime_context().gcs_address
    argv = [
        *CLI,
        "logs",
        "tally",
        agent_id,
        "-f",
        "--tail",
        "-1",
        "--address",
        address,
        "--namespace",
        "t-serve",
    ]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as follower:
        try:
            lines = _lines(follower.stdout, time.monotonic() + 120)  # a loaded machine starts Ray slowly
            assert next(line for line in lines if agent_id in line) == f"{agent_id} noted first\n"
            tally.note("second")  # written after the process printed what was there: it follows
            assert next(line for line in lines if agent_id in line) == f"{agent_id} noted second\n"
        finally:
            follower.terminate()


@pytest.mark.timeout(360)  # a second Ray instance beside the session's: slow to stop on 2 busy cores
def test_dev_prints_a_ray_address_that_ray_list_actors_takes(tmp_path: pathlib.Path) -> None:
    port, dashboard = free_port(), free_port()
    argv = [*CLI, "dev", "examples.app:app", "--port", str(port), "--dashboard-port", str(dashboard)]
    env = {name: value for name, value in os.environ.items() if name not in ("RAY_ADDRESS", "RAY_AUTH_MODE")}
    env["RAY_AGENTS_STORE"] = f"file://{tmp_path}"
    # Started as a background job's child would be (`.ci/run &`): with SIGINT ignored, which
    # `dev` must not inherit (it slept through Ctrl-C, its Ray left running).
    ignoring = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *argv]
    popen = functools.partial(subprocess.Popen, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    with popen(ignoring, env=env, start_new_session=True) as dev:
        try:
            lines = _lines(dev.stdout, time.monotonic() + 120)
            ray_line = next(line for line in lines if line.startswith("Ray at"))
            assert re.fullmatch(rf"Ray at \S+:\d+, dashboard http://127.0.0.1:{dashboard}\n", ray_line)
            hint = next(line for line in lines if "ray list actors --address" in line)
            serving = next(line for line in lines if line.startswith("Serving"))
            assert serving == f"Serving examples.app:app at http://127.0.0.1:{port}/ (Ctrl-C to stop)\n"
            *settings, ray_cli, list_, actors, flag, address = hint.split()  # run it as printed
            listed = subprocess.run(
                [os.path.join(os.path.dirname(sys.executable), ray_cli), list_, actors, flag, address],
                env={**env, **dict(s.split("=", 1) for s in settings)},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert listed.returncode == 0 and "ProxyActor" in listed.stdout, listed.stderr[-2000:]
        finally:
            dev.send_signal(signal.SIGINT)
            try:
                assert dev.wait(150) == 130  # serve.shutdown() waits for the replicas' graceful stop
            finally:  # never leave its Ray behind (it would confuse later tests' `ray` commands)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(dev.pid, signal.SIGKILL)
