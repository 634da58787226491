"""Every file in deploy/ works as written: Serve's own schema, and the code each config names
imports from a clean install (a wheel, not this checkout) in the directory the config runs in."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SERVE = yaml.safe_load((DEPLOY / "serve.yaml").read_text())
SERVICE = yaml.safe_load((DEPLOY / "rayservice.yaml").read_text())
LAUNCHER = yaml.safe_load((DEPLOY / "cluster.yaml").read_text())
DOCKERFILE = (DEPLOY / "Dockerfile").read_text()
SERVE_CONFIGS = {"serve.yaml": SERVE, "rayservice.yaml": yaml.safe_load(SERVICE["spec"]["serveConfigV2"])}


@pytest.fixture(scope="module")
def clean_install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """ray-agents installed from a wheel into a directory of its own (its dependencies are the
    venv's), and a working directory holding what the configs ship besides it: `examples/`."""
    base = tmp_path_factory.mktemp("clean")
    source = base / "source"  # built from a copy: a build leaves build/ and *.egg-info behind
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", base, source],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = base.glob("ray_agents-*.whl")
    target = base / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", target, wheel],
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    shutil.copytree(ROOT / "examples", base / "workdir" / "examples")
    yield base


def _imports(install: Path, cwd: Path, import_path: str) -> subprocess.CompletedProcess[str]:
    module, _, attr = import_path.partition(":")
    code = (
        f"import {module} as m, serve, pathlib; assert getattr(m, {attr!r}) is not None; "
        "assert (pathlib.Path(serve.__file__).parent / 'static' / 'agents.js').exists(); "
        "print(serve.__file__)"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(install / "site"), "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("name", SERVE_CONFIGS)
def test_serve_configs_import_from_a_clean_install_where_they_run(name: str, clean_install: Path) -> None:
    from ray.serve.schema import ServeDeploySchema

    config = SERVE_CONFIGS[name]
    ServeDeploySchema.model_validate(config)  # Serve's own schema
    for app in config["applications"]:
        assert "RAY_AGENTS_STORE" not in app["runtime_env"].get("env_vars", {}), "the store is the cluster's"
        for deployment in app["deployments"]:
            assert deployment["name"] == "AgentIngress" and deployment["max_ongoing_requests"] >= 1000
        done = _imports(clean_install, clean_install / "workdir", app["import_path"])
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(str(clean_install / "site"))  # the wheel's, not this checkout's
        elsewhere = _imports(clean_install, clean_install, app["import_path"])
        assert "No module named 'examples'" in elsewhere.stderr  # installing does not bring examples/


def test_the_rayservice_image_runs_ray_where_the_app_imports_from() -> None:
    workdir = re.search(r"^WORKDIR (\S+)$", DOCKERFILE, re.M)
    assert workdir and "COPY" in DOCKERFILE and "pip install" in DOCKERFILE
    head = SERVICE["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"]
    workers = [
        g["template"]["spec"]["containers"] for g in SERVICE["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    ]
    for container in [*head, *(c for group in workers for c in group)]:
        assert container["workingDir"] == workdir.group(1)
        assert any(e["name"] == "RAY_AGENTS_STORE" for e in container["env"])


def test_the_launcher_starts_ray_in_the_repository_on_every_node_with_one_store() -> None:
    mounted = next(path for path, source in LAUNCHER["file_mounts"].items() if source == ".")
    starts = [
        c
        for c in LAUNCHER["head_start_ray_commands"] + LAUNCHER["worker_start_ray_commands"]
        if "ray start" in c
    ]
    assert len(starts) == 2
    stores = set()
    for command in starts:
        assert command.startswith(f"cd {mounted} && ") and "RAY_AUTH_MODE=token" in command
        stores.add(re.search(r"RAY_AGENTS_STORE=(\S+)", command).group(1))  # type: ignore[union-attr]
    (store,) = stores  # the same store on every node
    redis_port = re.search(r"redis-server --port (\d+)", " ".join(LAUNCHER["head_start_ray_commands"]))
    ray_port = re.search(r"ray start --head --port=(\d+)", " ".join(LAUNCHER["head_start_ray_commands"]))
    assert redis_port and ray_port and redis_port.group(1) != ray_port.group(1)
    assert store.endswith(f":{redis_port.group(1)}/0")
    password = re.search(r"--requirepass (\S+)", " ".join(LAUNCHER["head_start_ray_commands"]))
    assert password and store.startswith(
        f"redis://:{password.group(1)}@"
    )  # the store runs code: no open Redis
    assert "~/.ray/auth_token" in LAUNCHER["file_mounts"]  # every node has the cluster's token
    for command in LAUNCHER["setup_commands"]:
        assert "'~" not in command  # a quoted ~ is not the home directory
    assert any(
        "serve deploy deploy/serve.yaml" in c and c.startswith(f"cd {mounted}")
        for c in starts + LAUNCHER["head_start_ray_commands"]
    )
