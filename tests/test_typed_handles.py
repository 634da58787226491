"""Typed handles: a type checker sees an agent's methods through `get_agent(Counter, id)`.

pyright checks tests/typecheck (configured in pyproject.toml): typed_handles.py must type-check,
and every refused call in refused_calls.py carries a rule-specific `pyright: ignore` that pyright
reports as unnecessary (an error) if that call ever type-checks.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_type_checker_accepts_typed_calls_and_refuses_wrong_ones() -> None:
    pyright = pathlib.Path(sys.executable).parent / "pyright"
    assert pyright.exists(), "pyright is missing: `pip install -e '.[dev]'`"
    run = subprocess.run(
        [str(pyright), "--outputjson"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    report = json.loads(run.stdout)
    errors = [
        f"{pathlib.Path(d['file']).name}:{d['range']['start']['line'] + 1}: {d['message']}"
        for d in report["generalDiagnostics"]
    ]
    assert report["summary"]["filesAnalyzed"] == 2
    assert errors == []
    assert run.returncode == 0
