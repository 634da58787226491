"""The README's cluster recipes, run as written with Ray's own CLI on a real `ray start --head`.

A fresh HOME and a shell environment without the test session's PYTHONPATH stand for a new
machine: what the agents need must come from the recipe (the venv on PATH, `ray start` in the
repository, token auth on), nothing else. Serve and jobs are tried in both orders, each on a
cluster of its own, sharing the one store the default configuration gives them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
VENV_BIN = Path(sys.executable).parent
#: Commands a user types, exactly as the README gives them.
TOKEN = "ray get-auth-token --generate >/dev/null"
START = "ray start --head"
DEPLOY = "serve deploy deploy/serve.yaml"
ADD = (
    "curl -s -X POST localhost:8000/agents/counter/{id}/rpc/add "
    "-H 'content-type: application/json' -d '{\"n\": 1}'"
)
JOB = "ray job submit --working-dir . -- python -m examples.job {id} 5"
DEADLINE = 120.0


def _shell_env(home: Path) -> dict[str, str]:
    """A user's shell after `. .venv/bin/activate` and `export RAY_AUTH_MODE=token`."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "PYTHON"))}
    return {
        **keep,
        "HOME": str(home),
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(VENV_BIN.parent),
        "RAY_AUTH_MODE": "token",
        "RAY_USAGE_STATS_ENABLED": "0",
    }


def _run(command: str, env: dict[str, str], timeout: float = DEADLINE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _until(
    what: str, command: str, ready: Callable[[subprocess.CompletedProcess[str]], bool], env: dict[str, str]
) -> None:
    """Run `command` until `ready` says its outcome shows the thing is up."""
    end, out = time.monotonic() + DEADLINE, ""
    while time.monotonic() < end:
        proc = _run(command, env, timeout=60)
        if ready(proc):
            return
        out = proc.stdout + proc.stderr
        time.sleep(0.5)  # polling a condition: there is no event to await across processes
    pytest.fail(f"{what} not ready within {DEADLINE:.0f} s; last output:\n{out[-3000:]}")


#: Ports a second Ray on the machine (this session's) already holds by default: the test
#: cluster gets free ones, and the CLIs its address through their environment variables.
PORT_OPTIONS = (
    "port",
    "dashboard-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "ray-client-server-port",
    "metrics-export-port",
    "runtime-env-agent-port",
    "node-manager-port",
    "object-manager-port",
)


class Cluster:
    """`ray start --head` in the repository, on free ports, with --block so the test can stop
    exactly this cluster (`ray stop` would stop every Ray on the machine, the session's too)."""

    def __init__(self, env: dict[str, str]) -> None:
        assert START in README
        ports = {name: free_port() for name in PORT_OPTIONS}
        self.env = {
            **env,
            "RAY_API_SERVER_ADDRESS": f"http://127.0.0.1:{ports['dashboard-port']}",  # ray job
            "RAY_DASHBOARD_ADDRESS": f"http://127.0.0.1:{ports['dashboard-port']}",  # serve
        }
        options = " ".join(f"--{name}={port}" for name, port in ports.items())
        self.log = (Path(env["HOME"]) / "ray-start.log").open("a")  # a file: a pipe could fill up
        self.proc = subprocess.Popen(
            f"exec {START} {options} --block",
            shell=True,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        _until("the Ray cluster", "ray job list", lambda p: p.returncode == 0, self.env)

    def serve(self) -> None:
        assert DEPLOY in README
        deployed = _run(DEPLOY, self.env)
        assert deployed.returncode == 0, deployed.stderr[-3000:]
        _until("the Serve app", "serve status", lambda p: "status: RUNNING" in p.stdout, self.env)

    def add(self, agent_id: str) -> int:
        assert ADD.replace("{id}", "alice") in README
        out = _run(ADD.replace("{id}", agent_id), self.env)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def job(self, agent_id: str, options: str = "") -> subprocess.CompletedProcess[str]:
        """The README's job command; `options` go after `ray job submit`."""
        assert JOB.replace("{id}", "alice") in README
        return self.submit(JOB.replace("{id}", agent_id).replace("submit", f"submit {options}", 1))

    def submit(self, command: str) -> subprocess.CompletedProcess[str]:
        """A `ray job submit`, again while the dashboard says its job agent is not up yet."""
        end = time.monotonic() + DEADLINE
        while True:
            done = _run(command, self.env)
            if "No available agent to submit job" not in done.stderr or time.monotonic() > end:
                return done
            time.sleep(0.5)  # Ray says "please try again later": there is nothing to await

    def stop(self) -> None:
        """SIGTERM `ray start --block`; what is left after 20 s is killed (nothing here tests a
        graceful stop, and on a slow machine it took more than a minute)."""
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        finally:
            _kill_processes_of(self.env["HOME"])  # whatever Ray left of this cluster
            self.log.close()


def _kill_processes_of(home: str) -> None:
    """SIGKILL every process started with this HOME: all of one test cluster, and nothing else."""
    marker = f"HOME={home}".encode()
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            if marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                os.kill(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    env = _shell_env(tmp_path_factory.mktemp("home"))
    assert TOKEN in README
    made = _run(TOKEN, env)
    assert made.returncode == 0, made.stderr
    yield env
    _kill_processes_of(env["HOME"])


def _counter_from(job: subprocess.CompletedProcess[str], agent_id: str) -> int:
    assert job.returncode == 0, (job.stdout + job.stderr)[-3000:]
    line = next(x for x in job.stdout.splitlines() if x.startswith(f"counter {agent_id} is now "))
    return int(line.rsplit(" ", 1)[1])


#: A user's own job in a directory of its own: the controller it starts runs there, where the
#: example app's modules are not importable (classes must reach it by value).
OWN_JOB = """
import ray
from agents import Agent, callable, get_agent

class Visits(Agent):
    initial_state = {"n": 0}

    @callable
    def visit(self) -> int:
        self.set_state({"n": self.state["n"] + 1})
        return self.state["n"]

ray.init()
print("visits", get_agent(Visits, "home").sync.visit())
"""


@pytest.mark.timeout(420)  # a real cluster, two jobs, a Serve deploy and a refused job: minutes on CI
def test_jobs_and_serve_in_either_order_share_one_agent(shell: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "visits.py").write_text(OWN_JOB)
    cluster = Cluster(shell)  # job first: a job from another directory starts the controller
    try:
        own = cluster.submit(f"ray job submit --working-dir {tmp_path} -- python visits.py")
        assert "visits 1" in own.stdout, (own.stdout + own.stderr)[-3000:]
        assert _counter_from(cluster.job("alice"), "alice") == 5
        cluster.serve()
        assert cluster.add("alice") == 6  # the Serve app sees the job's agent, in the same store
    finally:
        cluster.stop()
    cluster = Cluster(shell)  # a new cluster, Serve first: a replica starts the controller
    try:
        cluster.serve()
        assert cluster.add("alice") == 7  # the store outlived the cluster
        assert _counter_from(cluster.job("alice"), "alice") == 12
        assert cluster.add("alice") == 13
        store = Path(shell["HOME"]) / ".ray-agents" / "checkpoints" / "ray-agents"
        assert (store / "_classes" / "counter.pkl").exists()

        other = shell["HOME"] + "/elsewhere"
        refused = cluster.job(
            "alice", f'--runtime-env-json \'{{"env_vars": {{"RAY_AGENTS_STORE": "file://{other}"}}}}\''
        )
        assert refused.returncode != 0
        said = refused.stdout + refused.stderr
        assert "StoreMismatchError" in said and "one store per namespace" in said, said[-3000:]
        assert not Path(other).exists()  # nothing was written to the store the job asked for
        assert cluster.add("alice") == 14  # and nothing else changed
    finally:
        cluster.stop()
