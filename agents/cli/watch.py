"""`ray-agents events` (one agent's events, as they happen) and `ray-agents top` (live counts
and rates by agent type): what the hosts' event feeds say, read from a shell."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any

import click

from agents.cli.commands import agent_arguments, attach, cli, cluster_options, format_option
from agents.cli.output import table

#: Seconds one read of a followed agent's events waits for a new one.
FOLLOW_WAIT = 5.0
#: Facts `events` prints in text: the event's data, known keys first.
FIRST_FACTS = ("method", "error", "source", "bytes", "seq", "id", "attempt", "connection")


def event_line(event: dict[str, Any]) -> str:
    """One event as a line: time, name, duration, facts, epoch."""
    when = datetime.fromtimestamp(event["time"]).strftime("%H:%M:%S.%f")[:-3]
    duration = "" if event["duration_s"] is None else f"{event['duration_s'] * 1000:.1f} ms"
    data = event["data"]
    keys = [k for k in FIRST_FACTS if k in data] + sorted(k for k in data if k not in FIRST_FACTS)
    facts = " ".join(f"{k}={data[k]}" for k in keys)
    return f"{when}  {event['name']:<16} {duration:>10}  {facts}  (epoch {event['epoch']})".rstrip()


@cli.command()
@agent_arguments
@click.option("--follow", "-f", is_flag=True, help="Keep printing events as they happen until Ctrl-C.")
@click.option(
    "--name", "names", multiple=True, metavar="NAME", help="Only events of NAME, e.g. rpc:error (repeatable)."
)
@cluster_options
@format_option
def events(
    agent_type: str,
    agent_id: str,
    follow: bool,
    names: tuple[str, ...],
    address: str,
    namespace: str | None,
    output_format: str,
) -> None:
    """Print agent TYPE/ID's events: calls, checkpoints, wakes, ...

    \b
    What its host keeps of them (the last 2,000 of the host), oldest first;
    with -f, new ones as they happen, across hibernations and moves (a
    hibernated agent has none until it wakes). --format json prints one JSON
    object per line. Event names: `python -c "from agents import events;
    print(*events.NAMES, sep=chr(10))"`.
    """
    from agents import events as known
    from agents.runtime import agent_events

    unknown = sorted(set(names) - set(known.NAMES))
    if unknown:
        raise click.BadParameter(f"unknown event names {unknown}", param_hint="--name")
    attach(address, namespace)

    async def tail() -> None:
        after, source = 0, None
        while True:
            found = await agent_events(agent_type, agent_id, after, FOLLOW_WAIT if follow else 0.0, source)
            for event in found["events"]:
                if not names or event["name"] in names:
                    click.echo(json.dumps(event) if output_format == "json" else event_line(event))
            after, source = found["last"], found["source"]
            if not follow:
                if not found["live"]:
                    click.echo(f"# {agent_type} {agent_id} is not live: no events to show", err=True)
                return

    asyncio.run(tail())


#: The columns of `top`: (header, event names whose rates add up to it).
RATES = (
    ("CALLS/S", ("rpc", "rpc:error")),
    ("ERRORS/S", ("rpc:error", "checkpoint:error", "schedule:error", "queue:error")),
    ("CKPTS/S", ("checkpoint",)),
    ("WAKES/S", ("wake", "activation")),
    ("SLEEPS/S", ("hibernate", "evict")),
    ("RUNS/S", ("schedule:run", "queue:run")),
)


def top_rows(sample: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per agent type of a sample: live, hibernated, and the rates of `RATES`."""
    rows = []
    for agent_type, summary in sorted(sample["types"].items()):
        row: dict[str, Any] = {"type": agent_type, "live": summary.live, "hibernated": summary.hibernated}
        for header, names in RATES:
            row[header.lower()] = round(sum(summary.rates.get(n, 0.0) for n in names), 2)
        rows.append(row)
    return rows


@cli.command()
@click.option(
    "--interval", "-n", type=float, default=2.0, show_default=True, help="Seconds between refreshes."
)
@click.option("--once", is_flag=True, help="Print one refresh (rates over one interval) and exit.")
@cluster_options
@format_option
def top(interval: float, once: bool, address: str, namespace: str | None, output_format: str) -> None:
    """Show agents by type, live and hibernated, with their rates.

    Calls, errors, checkpoints, wakes, sleeps and scheduled runs per second,
    refreshed until Ctrl-C. Rates are what the hosts' event feeds counted over the last interval.
    With --format json, each refresh is one JSON object on a line.
    """
    from agents.runtime import cluster_sampler

    if interval <= 0:
        raise click.BadParameter("must be above 0", param_hint="--interval")
    attach(address, namespace)
    sampler = cluster_sampler()

    async def watch() -> None:
        await sampler.sample()  # rates need a sample before
        while True:
            await asyncio.sleep(interval)
            sample = await sampler.sample()
            rows = top_rows(sample)
            if output_format == "json":
                click.echo(json.dumps({"at": sample["at"], "hosts": sample["hosts"], "types": rows}))
            else:
                if not once and click.get_text_stream("stdout").isatty():
                    click.clear()
                headers = ["TYPE", "LIVE", "HIBERNATED", *(h for h, _ in RATES)]
                stamp = time.strftime("%H:%M:%S", time.localtime(sample["at"]))
                hosts = f"{sample['hosts']} host{'' if sample['hosts'] == 1 else 's'}"
                click.echo(f"ray-agents top  {stamp}  {hosts}  every {interval:g} s\n")
                click.echo(table(headers, [list(r.values()) for r in rows]))
            if once:
                return

    asyncio.run(watch())
