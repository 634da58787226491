"""Set-up is two commands: `make install` brings the servers the suite starts, or says how."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.services import ALLOW_MISSING, missing

ROOT = Path(__file__).resolve().parent.parent


def test_make_install_installs_the_system_packages_first() -> None:
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "install"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )  # (under `make test`, make would otherwise print the directory it enters first)
    assert dry.stdout.splitlines()[0] == "bash .ci/system-packages"


def test_without_root_the_missing_packages_are_named_with_the_command(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # a PATH with a shell, an `id` saying "not root", and no servers
    bin_dir.mkdir()
    (bin_dir / "bash").symlink_to(shutil.which("bash") or "/bin/bash")
    (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")
    (bin_dir / "id").chmod(0o755)
    done = subprocess.run(
        [str(bin_dir / "bash"), str(ROOT / ".ci" / "system-packages")],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "sudo apt-get install -y redis-server chromium" in done.stderr
    assert ALLOW_MISSING in done.stderr


def test_a_missing_server_fails_its_tests_unless_skipping_is_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ALLOW_MISSING, raising=False)
    with pytest.raises(pytest.fail.Exception, match=r"redis-server is not installed: run `make install`"):
        missing("redis-server", "redis-server")
    monkeypatch.setenv(ALLOW_MISSING, "1")
    with pytest.raises(pytest.skip.Exception, match="apt-get install redis-server"):
        missing("redis-server", "redis-server")
