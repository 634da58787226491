"""Deploy configs parse and name real import paths; the CLI talks to a running ingress."""

from __future__ import annotations

import asyncio
import importlib
import json
import pathlib

import pytest
import yaml

from agents.cli import main

DEPLOY = pathlib.Path(__file__).resolve().parent.parent / "deploy"


def _serve_configs() -> list[dict]:
    serve = yaml.safe_load((DEPLOY / "serve.yaml").read_text())
    service = yaml.safe_load((DEPLOY / "rayservice.yaml").read_text())
    assert service["kind"] == "RayService"
    return [serve, yaml.safe_load(service["spec"]["serveConfigV2"])]


@pytest.mark.parametrize("config", _serve_configs(), ids=["serve.yaml", "rayservice.yaml"])
def test_serve_configs_name_real_apps_with_many_ongoing_requests(config: dict) -> None:
    from ray.serve.schema import ServeDeploySchema

    ServeDeploySchema.model_validate(config)  # Serve's own schema
    for app in config["applications"]:
        module, _, attr = app["import_path"].partition(":")
        assert getattr(importlib.import_module(module), attr) is not None
        for deployment in app["deployments"]:
            assert hasattr(importlib.import_module("serve.app"), deployment["name"])
            assert deployment["max_ongoing_requests"] >= 1000


def test_cluster_launcher_config_starts_ray_and_deploys_the_serve_config() -> None:
    cluster = yaml.safe_load((DEPLOY / "cluster.yaml").read_text())
    assert cluster["provider"]["type"] == "local"
    commands = " ".join(cluster["head_start_ray_commands"])
    assert "ray start --head" in commands and "serve deploy deploy/serve.yaml" in commands


async def test_cli_call_state_and_ls(served: str, agent_id: str, capsys: pytest.CaptureFixture) -> None:
    run = asyncio.to_thread
    assert await run(main, ["call", "tally", agent_id, "add", "5", "--url", served]) == 0
    assert json.loads(capsys.readouterr().out) == 5
    assert await run(main, ["state", "tally", agent_id, "--url", served]) == 0
    assert json.loads(capsys.readouterr().out) == {"count": 5, "log": []}
    assert await run(main, ["call", "tally", agent_id, "add", "five", "--url", served]) == 1
    assert "invalid_arguments" in capsys.readouterr().err
    assert await run(main, ["ls", "--namespace", "t-serve"]) == 0
    assert f"Tally                {agent_id}" in capsys.readouterr().out
