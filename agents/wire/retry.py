"""Backoff between retries, for everyone who retries: the router, push streams and clients."""

from __future__ import annotations

import random


def backoff(attempt: int, *, base: float = 0.05, cap: float = 2.0, first_free: bool = False) -> float:
    """Seconds to wait before retry `attempt` (0-based): exponential from `base`, capped at `cap`,
    with jitter in [0.5, 1.5) so many retrying parties do not move in step. `first_free`: no
    wait before the first retry (the usual case when the cause is already being repaired)."""
    if first_free and attempt == 0:
        return 0.0
    return min(cap, base * 2**attempt) * (0.5 + random.random())
