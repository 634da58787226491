"""Agents spread over a 3-node cluster and survive losing a node (scenario runs in its own process:
one driver talks to one cluster at a time)."""

from __future__ import annotations

import pathlib

import pytest

from tests.scenarios import run_scenario


@pytest.mark.parametrize("hosting", ["dedicated", "pooled"])
def test_agents_spread_and_survive_node_loss(tmp_path: pathlib.Path, hosting: str) -> None:
    """Pooled: the lost node carried host actors, each with several agents."""
    result = run_scenario("multinode_scenario.py", str(tmp_path / "store"), hosting)
    assert result["nodes_used"] == 3, result  # least-loaded placement uses every node
    assert result["victim_agents"], result
    assert result["counts_ok"], result  # no acknowledged write lost
    assert result["moved_off_victim"], result
    assert result["moved_epochs_bumped"], result
    assert result["others_untouched"], result
