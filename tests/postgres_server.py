"""Real PostgreSQL servers for tests: a primary, and a synchronous standby streaming from it,
started from the Debian `postgresql` package's binaries on loopback ports."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.services import missing

#: Who runs the servers when the tests run as root (PostgreSQL refuses to run as root).
SERVER_USER = "postgres"


def bindir() -> Path:
    """The directory of `initdb`, `postgres` and `pg_basebackup`."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        missing("PostgreSQL", "postgresql")
    return Path(candidates[-1]).parent


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        missing(f"a {SERVER_USER!r} user (for running PostgreSQL as root)", "postgresql")
    return ["runuser", "-u", SERVER_USER, "--", *argv]


def _give_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, SERVER_USER, SERVER_USER)


@contextlib.contextmanager
def server_directory() -> Iterator[Path]:
    """A directory the server user may use (pytest's own temp dirs are private to root)."""
    directory = Path(tempfile.mkdtemp(prefix="ray-agents-pg-"))
    try:
        _give_to_server_user(directory)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class Server:
    """One PostgreSQL server in `directory`, listening on 127.0.0.1:`port`."""

    def __init__(self, directory: Path, port: int, name: str) -> None:
        self.directory, self.port, self.name = directory, port, name
        self.data = directory / "data"
        self.process: subprocess.Popen | None = None
        directory.mkdir(parents=True, exist_ok=True)
        _give_to_server_user(directory)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init_primary(self, synchronous_standby: str | None = None) -> None:
        subprocess.run(
            _as_server_user(
                [str(bindir() / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        settings = ["listen_addresses = '127.0.0.1'", "fsync = on", "synchronous_commit = on"]
        if synchronous_standby:
            settings.append(f"synchronous_standby_names = '{synchronous_standby}'")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n".join(settings) + "\n")
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")

    def init_standby_of(self, primary: Server) -> None:
        """A streaming standby of `primary` (base backup), named `self.name` for synchronous replication."""
        subprocess.run(
            _as_server_user(
                [
                    str(bindir() / "pg_basebackup"),
                    "-D",
                    str(self.data),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(primary.port),
                    "-U",
                    "postgres",
                    "-R",  # standby.signal and primary_conninfo
                    "-X",
                    "stream",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        with open(self.data / "postgresql.auto.conf", "a") as conf:
            conf.write(
                f"primary_conninfo = 'host=127.0.0.1 port={primary.port} user=postgres "
                f"application_name={self.name}'\n"
                # Once promoted it has no standby of its own: it must not wait for one (an
                # operator attaches a new standby, then sets this again).
                "synchronous_standby_names = ''\n"
            )

    def start(self) -> None:
        self.process = subprocess.Popen(
            _as_server_user(
                [
                    str(bindir() / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.directory),
                    "-c",
                    "listen_addresses=127.0.0.1",
                ]
            ),
            stdout=subprocess.DEVNULL,
            stderr=open(self.directory / "server.log", "ab"),  # the server writes to it while it runs
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline or (self.process and self.process.poll() is not None):
                    log = (self.directory / "server.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"PostgreSQL on port {self.port} did not start:\n{log}") from None
                time.sleep(0.1)

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def kill(self) -> None:
        """SIGKILL the postmaster (its backends go with it once they notice)."""
        os.kill(self.postmaster_pid(), signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)

    def _processes(self) -> list[int]:
        """The postmaster and its children (the backends, the WAL receiver)."""
        postmaster = self.postmaster_pid()
        pids = [postmaster]
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                pids.append(int(Path(stat).parent.name))
        return pids

    def pause(self) -> None:
        """SIGSTOP the server (it stops confirming anything)."""
        for pid in self._processes():
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self._processes():
            os.kill(pid, signal.SIGCONT)

    def promote(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SELECT pg_promote(wait => true)")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.kill(self.postmaster_pid(), signal.SIGINT)  # fast shutdown (past runuser)
                self.process.wait(20)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                self.process.kill()
