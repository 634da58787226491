"""`ray-agents`: run the ingress locally and talk to agents from a shell.

ray-agents dev examples.app:app            # local Ray + Serve on :8000, until Ctrl-C
ray-agents call counter alice add 5        # HTTP RPC (arguments parsed as JSON when they can be)
ray-agents state counter alice             # the agent's state, over a WebSocket
ray-agents ls                              # live and hibernated agents (attaches to the cluster)
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import time
from typing import Any

DEFAULT_URL = os.environ.get("RAY_AGENTS_URL", "http://127.0.0.1:8000")


def _argument(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _import_app(target: str) -> Any:
    module, _, attr = target.partition(":")
    if not attr:
        raise SystemExit(f"expected module:attribute, got {target!r}")
    sys.path.insert(0, os.getcwd())
    return getattr(importlib.import_module(module), attr)


def dev(args: argparse.Namespace) -> int:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH")) if p)
    import ray
    from ray import serve

    app = _import_app(args.app)
    print(f"starting Ray (address={args.address}) ...", flush=True)
    ray.init(address=args.address, include_dashboard=False, log_to_driver=args.logs)
    serve.start(http_options={"host": args.host, "port": args.port})
    serve.run(app, name="ray-agents", route_prefix="/")
    url = f"http://{args.host}:{args.port}/"
    print(f"ray-agents is serving {args.app} at {url}  (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping", flush=True)
        serve.shutdown()
    return 0


def call(args: argparse.Namespace) -> int:
    from agents.http import call as http_call

    result = http_call(args.url, args.agent, args.id, args.method, *map(_argument, args.args))
    print(json.dumps(result, indent=2))
    return 0


def state(args: argparse.Namespace) -> int:
    from agents.client import AgentClient

    async def fetch() -> Any:
        url = f"{args.url.replace('http', 'ws', 1)}/agents/{args.agent}/{args.id}"
        async with AgentClient(url, reconnect=False) as client:
            return client.state

    print(json.dumps(asyncio.run(fetch()), indent=2))
    return 0


def ls(args: argparse.Namespace) -> int:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from agents import configure, list_agents

    ray.init(address=args.address, log_to_driver=False, ignore_reinit_error=True)
    configure(namespace=args.namespace)
    described = asyncio.run(list_agents())
    rows = [(p["type"], p["id"], "live", f"epoch {p['epoch']}") for p in described["live"].values()]
    rows += [(cls, agent_id, "hibernated", "") for cls, agent_id in described["hibernated"]]
    for cls, agent_id, status, detail in sorted(rows):
        print(f"{cls:<20} {agent_id:<32} {status:<11} {detail}")
    print(f"{len(described['live'])} live, {len(described['hibernated'])} hibernated")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="ray-agents", description=__doc__.split("\n")[0])
    commands = top.add_subparsers(dest="command", required=True)

    p = commands.add_parser("dev", help="run an app (module:app) on a local Ray with Serve")
    p.add_argument("app")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--address", default=None, help="Ray address (default: start a local Ray)")
    p.add_argument("--logs", action="store_true", help="show the agents' logs")
    p.set_defaults(run=dev)

    for name, run, help_text in (("call", call, "call a method over HTTP"), ("state", state, "print state")):
        p = commands.add_parser(name, help=help_text)
        p.add_argument("agent", help="agent name in URLs, e.g. counter")
        p.add_argument("id")
        if name == "call":
            p.add_argument("method")
            p.add_argument("args", nargs="*", help="arguments, as JSON where they parse")
        p.add_argument("--url", default=DEFAULT_URL, help=f"ingress URL (default {DEFAULT_URL})")
        p.set_defaults(run=run)

    p = commands.add_parser("ls", help="list live and hibernated agents")
    p.add_argument("--address", default="auto")
    p.add_argument("--namespace", default=None)
    p.set_defaults(run=ls)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # readable one-line errors; tracebacks are for bugs in ray-agents
        code = getattr(exc, "code", type(exc).__name__)
        print(f"ray-agents {args.command}: {code}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
