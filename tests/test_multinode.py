"""Agents spread over a 3-node cluster and survive losing a node (scenario runs in its own process:
one driver talks to one cluster at a time)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_agents_spread_and_survive_node_loss(tmp_path: pathlib.Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "multinode_scenario.py"), str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["nodes_used"] == 3, result  # least-loaded placement uses every node
    assert result["victim_agents"], result
    assert result["counts_ok"], result  # no acknowledged write lost
    assert result["moved_off_victim"], result
    assert result["moved_epochs_bumped"], result
    assert result["others_untouched"], result
