"""The `ray-agents` commands (Click). Ray is imported inside the commands that use it."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import re
import signal
import sys
import time
import urllib.error
from datetime import datetime
from importlib import metadata
from typing import Any

import click

from agents.cli.output import FORMATS, CommandError, emit, report, table

DEFAULT_URL = "http://127.0.0.1:8000"
#: `NAME=VALUE` call arguments are keyword arguments (NAME a Python identifier).
KEYWORD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)


class AgentCommand(click.Command):
    """A command whose errors are reported in one line (see `output.Reported`)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise report(ctx, exc) from exc


class AgentGroup(click.Group):
    command_class = AgentCommand


@click.group(cls=AgentGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    package_name="ray-agents",
    prog_name="ray-agents",
    message=f"%(prog)s, version %(version)s (Ray {metadata.version('ray')})",
)
@click.option("--debug", is_flag=True, help="On an error, print its traceback too.")
def cli(debug: bool) -> None:
    """Run the ingress locally and manage agents from a shell.

    \b
    Exit codes: 0 done; 1 an error from the agent, the server or Ray (one
    line on stderr; with --format json, {"error": {"code", "message"}} on
    stdout); 2 a usage error; 130 interrupted (Ctrl-C).
    """


# ---- shared arguments and options ----------------------------------------------------------------


def agent_arguments(command: Any) -> Any:
    command = click.argument("agent_id", metavar="ID")(command)
    return click.argument("agent_type", metavar="TYPE")(command)


def cluster_options(command: Any) -> Any:
    command = click.option(
        "--namespace",
        envvar="RAY_AGENTS_NAMESPACE",
        show_envvar=True,
        help="The agents' Ray namespace [default: ray-agents].",
    )(command)
    return click.option(
        "--address",
        default="auto",
        show_default=True,
        help='Ray cluster to attach to ("auto": $RAY_ADDRESS, or the one running on this machine).',
    )(command)


def format_option(command: Any) -> Any:
    return click.option(
        "--format",
        "output_format",
        type=FORMATS,
        default="text",
        show_default=True,
        help="text for people, json for programs (errors too, on stdout).",
    )(command)


def _parse_headers(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    headers = {}
    for value in values:
        name, colon, content = value.partition(":")
        if not colon or not name.strip():
            raise click.BadParameter(f"expected 'Name: value', got {value!r}", ctx, param)
        headers[name.strip()] = content.strip()
    return headers


def _ingress_options(command: Any) -> Any:
    command = click.option(
        "--header",
        "-H",
        "headers",
        multiple=True,
        callback=_parse_headers,
        metavar="'NAME: VALUE'",
        help="Extra request header, e.g. -H 'Authorization: Bearer T' (repeatable).",
    )(command)
    return click.option(
        "--url",
        envvar="RAY_AGENTS_URL",
        show_envvar=True,
        default=DEFAULT_URL,
        show_default=True,
        help="The ingress's base URL.",
    )(command)


def attach(address: str, namespace: str | None, store: str | None = None) -> str:
    """Connect this process to the Ray cluster (unless it is already) and send agent calls to
    `namespace`; returns the cluster's GCS address."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from agents import configure

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    configure(namespace=namespace, store=store)
    return ray.get_runtime_context().gcs_address


def _namespace() -> str:
    from agents import runtime

    return runtime.router().config.namespace


# ---- dev -------------------------------------------------------------------------------------------


@cli.command()
@click.argument("app")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface Serve's HTTP proxy binds.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port Serve's HTTP proxy listens on.")
@click.option(
    "--address",
    default=None,
    help="Ray cluster to deploy APP to [default: start a local Ray, with its dashboard].",
)
@click.option(
    "--dashboard-port",
    type=int,
    default=8265,
    show_default=True,
    help="Port of the local Ray's dashboard (not with --address).",
)
@click.option("--logs", is_flag=True, help="Print the Ray workers' output (the agents' logs) here too.")
def dev(app: str, host: str, port: int, address: str | None, dashboard_port: int, logs: bool) -> None:
    """Serve APP on Ray Serve until Ctrl-C.

    APP is module:attribute, e.g. examples.app:app (a Serve application,
    such as serve.app.build_app's), imported from the current directory.
    It prints the Ray address (for `ray status`, `ray list actors` and the
    other commands' --address) and the URL it serves.
    """
    # Ctrl-C and `kill` both stop it gracefully (Serve, then the Ray it started), even when it
    # was started with SIGINT ignored (a background job's): else its Ray would be left running.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH")) if p)
    import ray
    from ray import serve

    target = _import_app(app)
    if address:
        context = ray.init(address=address, log_to_driver=logs)
    else:  # a new Ray ("local": never one found running here), with the dashboard `ray list` needs
        context = ray.init(
            address="local", include_dashboard=True, dashboard_port=dashboard_port, log_to_driver=logs
        )
    gcs = context.address_info["gcs_address"]
    url = context.dashboard_url
    dashboard = f", dashboard {url if '://' in url else 'http://' + url}" if url else ""
    click.echo(f"Ray at {gcs}{dashboard}")
    auth = "RAY_AUTH_MODE=token " if os.environ.get("RAY_AUTH_MODE", "").lower() == "token" else ""
    for command in ("ray status", "ray list actors", "ray-agents ls"):  # Ray sets the mode for itself only
        click.echo(f"  {auth}{command} --address {gcs}")
    serve.start(http_options={"host": host, "port": port})
    serve.run(target, name="ray-agents", route_prefix="/")
    click.echo(f"Serving {app} at http://{host}:{port}/ (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(3600)
    finally:
        click.echo("stopping", err=True)
        if address:  # someone else's cluster: take only this app down
            serve.delete("ray-agents")
        else:
            serve.shutdown()


def _import_app(target: str) -> Any:
    module, _, attr = target.partition(":")
    if not module or not attr:
        raise click.BadParameter(f"expected module:attribute, e.g. examples.app:app, got {target!r}")
    sys.path.insert(0, os.getcwd())
    return getattr(importlib.import_module(module), attr)


# ---- start -----------------------------------------------------------------------------------------


@cli.command()
@cluster_options
@click.option(
    "--store",
    envvar="RAY_AGENTS_STORE",
    show_envvar=True,
    help=(
        "Checkpoint store URL; a running controller with another store refuses it (store_mismatch) "
        "[default: the running controller's, else ~/.ray-agents]."
    ),
)
def start(address: str, namespace: str | None, store: str | None) -> None:
    """Make sure the placement controller runs on the cluster.

    The first agent call starts it anyway; start it when a cluster
    (re)starts with hibernated agents that have alarms but no callers (its
    alarm loop wakes them). A running controller keeps its store.
    """
    from agents import list_agents
    from agents import start as start_controller

    gcs = attach(address, namespace, store)

    async def started() -> dict[str, Any]:
        await start_controller()
        return await list_agents()

    described = asyncio.run(started())
    click.echo(
        f"placement controller running in namespace {_namespace()!r} on Ray at {gcs}: "
        f"{len(described['live'])} live, {len(described['hibernated'])} hibernated agents"
    )


# ---- call and state --------------------------------------------------------------------------------


def _value(text: str) -> Any:
    """A command-line value: JSON if it parses, else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _call_arguments(arguments: tuple[str, ...]) -> tuple[list[Any], dict[str, Any]]:
    args, kwargs = [], {}
    for text in arguments:
        keyword = KEYWORD.match(text)
        if keyword:
            kwargs[keyword[1]] = _value(keyword[2])
        else:
            args.append(_value(text))
    if args and kwargs:
        raise click.UsageError("pass positional or NAME=VALUE arguments, not both (HTTP calls take one kind)")
    return args, kwargs


@cli.command()
@agent_arguments
@click.argument("method")
@click.argument("arguments", nargs=-1, metavar="[ARGS]...")
@_ingress_options
@format_option
def call(
    agent_type: str,
    agent_id: str,
    method: str,
    arguments: tuple[str, ...],
    url: str,
    headers: dict[str, str],
    output_format: str,
) -> None:
    """Call METHOD of agent TYPE/ID over HTTP and print its result.

    \b
    TYPE is the agent's type as in URLs (counter in /agents/counter/alice).
    Each of ARGS is JSON if it parses (5, true, [1,2], {"a":1}, "x"), else a
    string (alice). NAME=VALUE ones are keyword arguments, VALUE read the
    same way; a call takes one kind or the other.
    \b
      ray-agents call counter alice add 5
      ray-agents call counter alice add n=5
      ray-agents call notes bob write '"a=b"'    # JSON-quote a string with =
      ray-agents call counter alice add -- -5    # -- before a leading dash
    """
    from agents.http import rpc

    args, kwargs = _call_arguments(arguments)
    try:
        result = rpc(url, agent_type, agent_id, method, args, kwargs, headers=headers)
    except urllib.error.URLError as exc:  # nobody answered (error answers are typed errors)
        raise ConnectionError(f"cannot reach {url}: {exc.reason}") from exc
    emit(result, output_format)


@cli.command()
@agent_arguments
@_ingress_options
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for the state.")
@format_option
def state(
    agent_type: str, agent_id: str, url: str, headers: dict[str, str], timeout: float, output_format: str
) -> None:
    """Print the state of agent TYPE/ID, read over a WebSocket.

    TYPE is the agent's type as in URLs (counter in /agents/counter/alice).
    """
    from agents.client import AgentClient
    from agents.http import agent_url

    async def fetch() -> Any:
        socket = agent_url(re.sub(r"^http", "ws", url), agent_type, agent_id)
        client = AgentClient(socket, reconnect=False, headers=headers)
        await client.connect(timeout)
        try:
            return client.state
        finally:
            await client.close()

    emit(asyncio.run(fetch()), output_format)


# ---- ls, logs, destroy -----------------------------------------------------------------------------


@cli.command()
@cluster_options
@format_option
def ls(address: str, namespace: str | None, output_format: str) -> None:
    """List live and hibernated agents (with their placement).

    What the placement controller knows: TYPE and ID, live or hibernated,
    and for a live one its epoch, node, host (a pooled host's name, or
    dedicated) and when it was activated.
    """
    from agents import list_agents

    attach(address, namespace)
    described = asyncio.run(list_agents())
    agents = _listed(described)
    live, hibernated = len(described["live"]), len(described["hibernated"])
    if output_format == "json":
        emit({"agents": agents, "live": live, "hibernated": hibernated}, "json")
        return
    click.echo(table([name.upper() for name in LISTED], [_row(a) for a in agents]))
    click.echo(f"\n{live} live, {hibernated} hibernated")


#: The fields of `ls`, for each agent (those of a hibernated agent's placement are None).
LISTED = ("type", "id", "status", "epoch", "node", "host", "activated")


def _listed(described: dict[str, Any]) -> list[dict[str, Any]]:
    """The agents the controller described, sorted, as `LISTED` fields (full node IDs, Unix times)."""
    live = [
        (p["type"], p["id"], "live", p["epoch"], p["node_id"], p["host"] or "dedicated", p["activated_at"])
        for p in described["live"].values()
    ]
    hibernated = [(t, i, "hibernated", None, None, None, None) for t, i in described["hibernated"]]
    return [dict(zip(LISTED, row, strict=True)) for row in sorted(live + hibernated, key=lambda r: r[:2])]


def _row(agent: dict[str, Any]) -> list[Any]:
    """A table row: node IDs shortened (as Ray's logs do), times local."""
    node, when = agent["node"], agent["activated"]
    activated = when and datetime.fromtimestamp(when).isoformat(" ", "seconds")
    return [
        agent["type"],
        agent["id"],
        agent["status"],
        agent["epoch"],
        node and node[:8],
        agent["host"],
        activated,
    ]


@cli.command()
@agent_arguments
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.option("--tail", type=int, default=100, show_default=True, help="Last lines to print (-1: all).")
@click.option("--out", "stdout", is_flag=True, help="Read stdout (print) instead of stderr (logging).")
@cluster_options
def logs(
    agent_type: str, agent_id: str, follow: bool, tail: int, stdout: bool, address: str, namespace: str | None
) -> None:
    """Print the log lines of agent TYPE/ID's process.

    \b
    TYPE is the agent's type as `ray-agents ls` shows it. The agent must be
    live. A dedicated agent has its process to itself; a pooled one shares
    its host's with the other agents there, whose lines show too.
    """
    from agents import get_agent, list_agents
    from agents.cli.logs import host_lines

    attach(address, namespace)

    async def where() -> dict[str, Any]:
        live = (await list_agents())["live"].values()
        if not any(p["type"] == agent_type and p["id"] == agent_id for p in live):
            raise CommandError("not_live", f"{agent_type} {agent_id} is not live (see `ray-agents ls`)")
        return await get_agent(agent_type, agent_id).describe()

    info = asyncio.run(where())
    stream = "out" if stdout else "err"
    click.echo(
        f"# {info['key']} epoch {info['epoch']}: {info['hosting']} host {info['host']}, "
        f"pid {info['pid']} on node {info['node_id'][:8]} (std{stream})",
        err=True,
    )
    for line in host_lines(info["node_id"], info["pid"], stream, tail, follow):
        click.echo(line)


@cli.command()
@agent_arguments
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@cluster_options
def destroy(agent_type: str, agent_id: str, yes: bool, address: str, namespace: str | None) -> None:
    """Delete agent TYPE/ID for good, as its self.destroy() would.

    \b
    Its live activation is stopped, then its state, SQL and restore points
    are deleted (restore and fork are refused after; a later call starts it
    afresh). TYPE is the agent's type as `ray-agents ls` shows it. Without
    --yes it asks first (on stderr; no answer is no).
    """
    from agents import get_agent

    if not yes and not _confirmed(f"Destroy {agent_type} {agent_id} and all its data for good?"):
        raise CommandError("not_confirmed", "nothing was destroyed")
    attach(address, namespace)
    asyncio.run(get_agent(agent_type, agent_id).destroy())
    click.echo(f"destroyed {agent_type} {agent_id}: its state, SQL and restore points are deleted")


def _confirmed(question: str) -> bool:
    """Whether the answer on stdin is yes; the end of input is no (Ctrl-C still interrupts)."""
    click.echo(f"{question} [y/N]: ", nl=False, err=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def main(argv: list[str] | None = None) -> int:
    """Run `ray-agents` with these arguments (default: the command line); returns the exit code."""
    try:
        return cli.main(argv, prog_name="ray-agents", standalone_mode=False) or 0
    except click.ClickException as exc:  # usage errors (2) and the commands' own (1)
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):  # Click has ended the terminal's ^C line
        return 130
