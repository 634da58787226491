"""A real Redis server for tests, with an fsync-always append-only file, on a loopback port: it
can be stopped and started again on the same port and data directory (what it acknowledged is
still there)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from tests.services import missing


class RedisServer:
    """One redis-server on 127.0.0.1:`port`, its files in `data`, optionally with a password."""

    def __init__(self, port: int, data: Path, password: str | None = None) -> None:
        self.port, self.data, self.password = port, data, password
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            missing("redis-server", "redis-server")
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data)]
        argv += ["--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no"]
        if self.password:
            argv += ["--requirepass", self.password]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        import redis

        client = redis.Redis(port=self.port, password=self.password)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:  # not listening yet, or still loading its AOF
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        self.process.kill()
                        self.process.wait()
                        self.process = None
                        raise
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server (SIGTERM) and wait for it to exit."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
