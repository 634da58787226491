"""MCP servers for the MCP client tests: the reference server `@modelcontextprotocol/server-everything`
(npm, run with npx over Streamable HTTP), an OAuth-protected server (`tests.mcp_oauth_server`), and
a fake that answers with malformed JSON-RPC.

The reference server runs as a real subprocess in a process group of its own (npx starts npm, a
shell and node), so a test can SIGKILL it, or SIGSTOP it to make it hang, as one unit.
"""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.services import missing

PACKAGE = "@modelcontextprotocol/server-everything"
#: The first run downloads the package (npm cache); later ones start in a second or two.
START_TIMEOUT_S = 120.0


class ServerProcess:
    """A server started as a subprocess in a process group of its own, listening on a local port."""

    def __init__(self, argv: list[str], port: int, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/mcp"
        self.proc = subprocess.Popen(
            argv,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._wait_until_listening(argv[-1])

    def _wait_until_listening(self, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"{what} did not start listening on port {self.port}") from None
                time.sleep(0.1)

    def signal(self, signum: int) -> None:
        """Send `signum` to the server's whole process group."""
        try:
            os.killpg(self.proc.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the group (stopped processes too) and reap the server."""
        self.signal(signal.SIGKILL)
        self.proc.wait(10)


class EverythingServer(ServerProcess):
    """One running `server-everything streamableHttp` (npm, a shell and node under npx)."""

    def __init__(self, port: int) -> None:
        npx = shutil.which("npx")
        if npx is None or shutil.which("node") is None:
            missing("node and npx (for the MCP reference server)", "nodejs npm")
        super().__init__([npx, "-y", PACKAGE, "streamableHttp"], port, {"PORT": str(port)})


class OAuthServer(ServerProcess):
    """The OAuth-protected MCP server of `tests.mcp_oauth_server`, its access tokens living
    `token_seconds`."""

    def __init__(self, port: int, token_seconds: int) -> None:
        argv = [
            sys.executable,
            "-m",
            "tests.mcp_oauth_server",
            str(port),
            "--token-seconds",
            str(token_seconds),
        ]
        super().__init__(argv, port)
        self.base = f"http://127.0.0.1:{port}"


@contextmanager
def everything(port: int) -> Iterator[EverythingServer]:
    server = EverythingServer(port)
    try:
        yield server
    finally:
        server.kill()


class _Malformed(http.server.BaseHTTPRequestHandler):
    """Answers every POST with JSON that is no JSON-RPC message."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b'{"hello": "this is not JSON-RPC"}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def malformed_server() -> Iterator[str]:
    """The URL of a local HTTP server whose every answer is malformed JSON-RPC."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Malformed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/mcp"
    finally:
        server.shutdown()
