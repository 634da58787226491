"""Hosting modes: where an agent's activation lives.

- "dedicated": a named, detached Ray actor of its own (an OS process, ~50 MiB, ~0.5-1 s to wake).
  Full isolation: CPU-heavy or blocking code stalls nobody else.
- "pooled": one activation among many in a shared, named, detached host actor (KiBs each,
  milliseconds to wake). Host-mates share one event loop: an agent that blocks it stalls them
  (a watchdog logs who); sync `@callable` methods run in a worker thread so they cannot.
"""

from __future__ import annotations

from typing import Literal, get_args

from agents.errors import InvalidHostingError

Hosting = Literal["dedicated", "pooled"]
HOSTING_MODES: tuple[str, ...] = get_args(Hosting)


def validate_hosting(value: object, where: str = "hosting") -> Hosting:
    """`value` if it names a hosting mode, else InvalidHostingError saying what is allowed."""
    if value not in HOSTING_MODES:
        raise InvalidHostingError(f"{where} must be one of {', '.join(HOSTING_MODES)}; got {value!r}")
    return value  # type: ignore[return-value]
