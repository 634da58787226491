"""What the CLI prints: results as text or JSON, tables, and errors as one line each."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from agents.errors import AgentError

#: `--format`: text for people (strings as they are, tables), JSON for programs.
FORMATS = click.Choice(["text", "json"])


class CommandError(Exception):
    """A failure a command reports itself: a stable code and a one-line message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Reported(click.ClickException):
    """A command's error, shown as `ray-agents CMD: code: message` on stderr, or with `--format
    json` as `{"error": {"code", "message"}}` on stdout; exit code 1."""

    exit_code = 1

    def __init__(self, command: str, code: str, message: str, as_json: bool) -> None:
        super().__init__(message)
        self.command, self.code, self.as_json = command, code, as_json

    def show(self, file: Any = None) -> None:
        if self.as_json:
            emit({"error": {"code": self.code, "message": self.message}}, "json")
        else:
            click.echo(f"ray-agents {self.command}: {self.code}: {self.message}", err=True)


def report(ctx: click.Context, exc: Exception) -> Reported:
    """`exc` as the command's one-line error (its traceback too with `ray-agents --debug`)."""
    if ctx.find_root().params.get("debug"):
        traceback.print_exception(exc)
    code, message = describe(exc)
    return Reported(ctx.info_name or "", code, message, ctx.params.get("output_format") == "json")


def describe(exc: BaseException) -> tuple[str, str]:
    """(code, first line of the message): ray-agents errors by their wire code, a Ray task error
    by the error it carries, connection failures as `connection_error`."""
    ray = sys.modules.get("ray")
    if ray is not None and isinstance(exc, ray.exceptions.RayTaskError) and exc.cause is not None:
        exc = exc.cause
    if isinstance(exc, AgentError | CommandError):
        code = exc.code
    elif isinstance(exc, TimeoutError):
        code = "timeout"
    elif isinstance(exc, OSError):
        code = "connection_error"
    else:
        code = type(exc).__name__
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return code, lines[0] if lines else type(exc).__name__


def emit(value: Any, output_format: str) -> None:
    """Print a result: JSON, or as text (a string as it is, nothing for None, else JSON)."""
    if output_format == "text" and isinstance(value, str):
        click.echo(value)
    elif output_format == "json" or value is not None:
        click.echo(json.dumps(value, indent=2, default=str))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell, headers first (like `ray list actors`)."""
    cells = [list(headers), *([("-" if c is None else str(c)) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells)
    return "\n".join(line.rstrip() for line in lines)
