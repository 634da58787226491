"""The CLI talks to a running ingress."""

from __future__ import annotations

import asyncio
import json
import pathlib

import pytest

from agents.cli import main

DEPLOY = pathlib.Path(__file__).resolve().parent.parent / "deploy"


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
