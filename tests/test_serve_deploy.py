"""Deploy configs parse and name real import paths (the CLI's tests are in test_cli.py)."""

from __future__ import annotations

import importlib
import pathlib

import pytest
import yaml

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
