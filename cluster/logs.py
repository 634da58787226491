"""Readable logs from our own actor processes, without touching the root logger.

Library code never calls `logging.basicConfig`: a driver's logging is its owner's. Our actors
(controller, agent hosts, ingress replicas) are processes we start, so there the "ray_agents"
logger gets one handler of its own; its level comes from `$RAY_AGENTS_LOG_LEVEL` (default INFO).
"""

from __future__ import annotations

import logging
import os

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def configure_actor_logging() -> None:
    """Give the "ray_agents" logger a handler in this (actor) process; idempotent."""
    logger = logging.getLogger("ray_agents")
    logger.setLevel(os.environ.get("RAY_AGENTS_LOG_LEVEL", "INFO").upper())
    if not any(getattr(h, "_ray_agents", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        handler._ray_agents = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
