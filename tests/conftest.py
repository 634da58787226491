"""One real Ray runtime for the session; each test runs against the file store and Redis."""

from __future__ import annotations

import os
import pathlib
import socket
import uuid
from collections.abc import Iterator

# Workers inherit the environment of the raylet that ray.init starts: make `tests` importable.
ROOT = pathlib.Path(__file__).resolve().parent.parent
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("RAY_AGENTS_PG_CONNECT_TIMEOUT", "3")  # an unreachable server is said so quickly

import pytest  # noqa: E402
import ray  # noqa: E402

from agents import configure  # noqa: E402
from cluster.naming import DEDICATED_PREFIX  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: Where the session's Ray exports its metrics (Prometheus text at /metrics; tests/test_telemetry.py).
METRICS_PORT = free_port()


@pytest.fixture(scope="session")
def ray_runtime() -> Iterator[None]:
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        namespace="tests",
        _metrics_export_port=METRICS_PORT,
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis server with an fsync-always append-only file."""
    from tests.redis_server import RedisServer

    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server (fsync on), from the Debian package's binaries."""
    from tests.postgres_server import Server, server_directory

    with server_directory() as directory:
        server = Server(directory, free_port(), "primary")
        server.init_primary()
        server.start()
        yield server.url
        server.stop()


@pytest.fixture(scope="session")
def file_store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"file://{tmp_path_factory.mktemp('checkpoints')}"


#: The deployments agent tests run against: dedicated agents on the file store, Redis and
#: PostgreSQL, and pooled agents (many per host actor) on the file store. A test module may narrow it with
#: `pytest.mark.parametrize("store_url", ["file"], indirect=True)`.
DEPLOYMENTS = ["file", "redis", "postgres", "pooled"]
_STORE_FIXTURES = {"redis": "redis_url", "postgres": "postgres_url"}


@pytest.fixture(params=DEPLOYMENTS)
def store_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(_STORE_FIXTURES.get(request.param, "file_store_url"))


@pytest.fixture
def hosting(request: pytest.FixtureRequest) -> str:
    """How this test's agents are hosted: "pooled" in the pooled deployment, else "dedicated"."""
    return "pooled" if request.node.callspec.params.get("store_url") == "pooled" else "dedicated"


@pytest.fixture
def runtime(ray_runtime: None, store_url: str, hosting: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """Agents in a namespace of their own per deployment; live dedicated agents are stopped after
    each test (spare dedicated hosts and pooled hosts carry on, as in production)."""
    namespace = f"t-{request.node.callspec.params.get('store_url', 'file')}"
    configure(namespace=namespace, store=store_url, hosting=hosting)
    yield namespace
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry["namespace"] == namespace and entry["name"].startswith(DEDICATED_PREFIX):
            try:
                host = ray.get_actor(entry["name"], namespace=namespace)
                if ray.get(host.held.remote(), timeout=10):
                    ray.kill(host, no_restart=True)
            except (ValueError, ray.exceptions.RayError):
                pass


@pytest.fixture
def agent_id() -> str:
    return f"a-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def serve_url(ray_runtime: None, file_store_url: str) -> Iterator[str]:
    """The ingress on Ray Serve (two replicas, 64 KiB frame limit) on a free port."""
    from ray import serve

    from cluster.config import RuntimeConfig
    from serve.app import start
    from tests.agents_for_serve import PAGES, SERVED

    url = start(
        SERVED,
        port=free_port(),
        runtime=RuntimeConfig(namespace="t-serve", store_url=file_store_url),
        num_replicas=2,
        max_frame_bytes=64 * 1024,
        pages=PAGES,
    )
    yield url
    serve.shutdown()


@pytest.fixture
def served(serve_url: str, file_store_url: str) -> str:
    """The ingress URL, with this driver's agent calls going to the same namespace and store."""
    configure(namespace="t-serve", store=file_store_url)
    return serve_url
