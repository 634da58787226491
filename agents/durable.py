"""Durable jobs: multi-step work inside an agent whose finished steps survive a crash."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.agent import AgentRuntime


class DurableJob:
    """`async with self.run_durable("order-42") as job: a = await job.step("fetch", fetch)`.

    Each finished step's result is recorded and checkpointed before the next step starts, so a
    crash mid-job resumes from the last finished step: running the same job name again returns
    recorded results without re-running those steps. A job that finishes forgets its steps. Run
    jobs from a queued or scheduled method to have them resumed automatically after a crash;
    `Agent.on_recover` is told about jobs left unfinished by a crash either way.
    """

    def __init__(self, name: str, runtime: AgentRuntime) -> None:
        self.name = name
        self._runtime = runtime

    async def __aenter__(self) -> DurableJob:
        self._runtime.scheduler.job_started(self.name)
        return self

    async def step(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `fn(*args, **kwargs)` once for this job; its (msgpack-able) result is durable."""
        done, result = self._runtime.scheduler.step_result(self.name, name)
        if done:
            return result
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        self._runtime.scheduler.record_step(self.name, name, result)
        await self._runtime.commit_progress()
        return result

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self._runtime.scheduler.job_finished(self.name)
