"""Schedules survive a full cluster restart; a run missed while down runs once on recovery."""

from __future__ import annotations

import pathlib
import time

from tests.scenarios import run_scenario


def test_alarm_missed_during_full_cluster_restart_runs_once(tmp_path: pathlib.Path) -> None:
    armed = run_scenario("restart_scenario.py", "arm", str(tmp_path / "store"))
    time.sleep(armed["due_in"])  # the cluster is down: let the alarm's due time pass
    recovered = run_scenario("restart_scenario.py", "recover", str(tmp_path / "store"))
    assert recovered["woken"], recovered
    assert recovered["runs"] == ["missed-while-down"], recovered
