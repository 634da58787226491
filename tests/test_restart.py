"""Schedules survive a full cluster restart; a run missed while down runs once on recovery."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run_phase(phase: str, store: pathlib.Path) -> dict:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "restart_scenario.py"), phase, str(store)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_alarm_missed_during_full_cluster_restart_runs_once(tmp_path: pathlib.Path) -> None:
    armed = run_phase("arm", tmp_path / "store")
    time.sleep(armed["due_in"])  # the cluster is down: let the alarm's due time pass
    recovered = run_phase("recover", tmp_path / "store")
    assert recovered["woken"], recovered
    assert recovered["runs"] == ["missed-while-down"], recovered
