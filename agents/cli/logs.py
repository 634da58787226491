"""The log lines of an agent's host process: from this machine's Ray log files when it runs
here, else through Ray's log API (any node; it needs the Ray dashboard)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path

#: Lines Ray writes into worker logs for its own log monitor (which job, actor or task follows).
RAY_MARKERS = (":job_id:", ":actor_name:", ":task_name:")
#: How often a followed local log file is read for new lines.
FOLLOW_POLL = 0.25


def host_lines(node_id: str, pid: int, stream: str, tail: int, follow: bool) -> Iterator[str]:
    """The last `tail` lines (-1: all) of worker process `pid` on node `node_id`, its `stream`
    ("err": Python logging; "out": print), then new ones as they come if `follow`."""
    lines = _lines(_chunks(node_id, pid, stream, tail, follow))
    return (line for line in lines if not line.startswith(RAY_MARKERS))


def _chunks(node_id: str, pid: int, stream: str, tail: int, follow: bool) -> Iterator[str]:
    """From this machine's log files when the process runs here, else through Ray's log API."""
    import ray
    from ray.util.state import get_log

    here = ray.get_runtime_context()
    if node_id == here.get_node_id():
        yield from _local_chunks(_local_file(pid, stream), tail, follow)
        return
    yield from get_log(
        address=here.gcs_address, node_id=node_id, pid=pid, suffix=stream, tail=tail, follow=follow
    )


def _local_file(pid: int, stream: str) -> Path:
    from ray._private.worker import global_worker  # Ray has no public API for its log directory

    directory = Path(global_worker.node.get_logs_dir_path())
    found = sorted(directory.glob(f"worker-*-{pid}.{stream}"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"no log file of process {pid} in {directory}")
    return found[-1]


def _local_chunks(path: Path, tail: int, follow: bool) -> Iterator[str]:
    with path.open(errors="replace") as file:
        lines = file.readlines()
        yield "".join(lines if tail < 0 else lines[len(lines) - min(tail, len(lines)) :])
        while follow:
            chunk = file.read()
            if chunk:
                yield chunk
            else:
                time.sleep(FOLLOW_POLL)


def _lines(chunks: Iterable[str]) -> Iterator[str]:
    pending = ""
    for chunk in chunks:
        *complete, pending = (pending + chunk).split("\n")
        yield from complete
    if pending:
        yield pending
