"""One live agent: restored from its checkpoint, run in turns, checkpointed before each ack.

Independent of Ray, so one host process could later carry many activations (density).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from agents.agent import Agent
from agents.errors import (
    ActivationError,
    AgentError,
    AgentUnavailableError,
    InvalidArgumentsError,
    ReadOnlyError,
    ReentrantCallError,
    ResultNotKeptError,
)
from agents.methods import lookup_method
from agents.scheduling import Scheduler, WorkItem
from agents.state import StateCodec, pack, unpack
from cluster import outcome
from cluster.alarms import AlarmTimer
from cluster.checkpoint import ChunkedImage, Manifest
from cluster.context import CALL_CHAIN
from cluster.database import AgentDatabase
from cluster.naming import agent_key, class_name
from cluster.outcome import Outcome
from cluster.sockets import SocketHub
from cluster.stores import CheckpointStore

log = logging.getLogger("ray_agents.activation")
T = TypeVar("T")

END_OF_STREAM = ("end", None)
#: Largest result (pickled) kept in checkpoints for idempotent retries.
MAX_KEPT_RESULT = 16 * 1024


class Activation:
    """The runtime behind one agent instance (implements `agents.agent.AgentRuntime`)."""

    def __init__(
        self,
        agent_cls: type[Agent],
        agent_id: str,
        epoch: int,
        store: CheckpointStore,
        scratch: Path,
        dedupe_window: int = 128,
    ) -> None:
        self.agent_cls = agent_cls
        self.agent_id = agent_id
        self.epoch = epoch
        self.key = agent_key(class_name(agent_cls), agent_id)
        self.store = store
        self.scratch = scratch
        self.dedupe_window = dedupe_window
        self.codec = StateCodec(agent_cls)
        #: True while this activation takes no turns: until `start()` has restored it, and again
        #: once it must take no more (hibernating, fenced, destroyed).
        self.closing = True
        self.started = False
        self._results: OrderedDict[str, bytes] = OrderedDict()
        self.destroyed = False
        self.last_activity = time.monotonic()
        self.in_flight = 0
        self.checkpoints = 0
        self._lock = asyncio.Lock()
        self._readonly_turn = False
        self._turn_sources: list[Any] = []
        self._progress_state = self._progress_db = False
        #: Set while run_due() runs a batch of due work: {"db": whether any turn changed SQL}.
        self._batch: dict[str, bool] | None = None
        self._destroy_requested = False
        self._state_listeners: list[Callable[[Any, Any], None]] = []
        self._alarm = AlarmTimer(self.run_due)
        self._published_alarm: float | None = None
        #: Client connections and HTTP entry points (`cluster.sockets`).
        self.sockets = SocketHub(self)

    # ---- start -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Restore state and SQL from the latest checkpoint, then run `on_start` as a turn."""
        try:
            raw = await asyncio.to_thread(self.store.load_manifest, self.key)
            if raw is None:
                manifest = Manifest(epoch=self.epoch, state=self.codec.encode(self.codec.initial()))
                image = ChunkedImage()
            else:
                manifest = Manifest.unpack(raw)
                chunks = await asyncio.to_thread(self.store.load_chunks, self.key, manifest.db_chunks)
                image = ChunkedImage.assemble(manifest.db_size, manifest.db_chunks, chunks)
            self._state = self.codec.decode(manifest.state)
        except Exception as exc:
            raise ActivationError(f"{self.key}: cannot restore checkpoint: {exc!r}") from exc
        self._committed_state = manifest.state
        self._image = image
        self._results = OrderedDict(manifest.results)
        self.sections: dict[str, Any] = manifest.sections
        self._committed_sections = pack(self.sections)
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.db = AgentDatabase(self.scratch / "agent.sqlite", image.image)
        self.scheduler = Scheduler(self.agent_cls, self.sql)
        agent = self.agent_cls.__new__(self.agent_cls)
        agent._runtime = self
        agent.__init__()
        self.agent = agent
        async with self._lock:
            result = await self._turn(agent.on_start, request_id=None)
            if result[0] == "err":
                raise ActivationError(f"{self.key}: on_start failed: {result[1]!r}") from result[1]
            unfinished = self.scheduler.unfinished_jobs()
            if unfinished:
                log.warning("%s: durable jobs left unfinished by a crash: %s", self.key, unfinished)
                recovered = await self._turn(lambda: agent.on_recover(unfinished), request_id=None)
                if recovered[0] == "err":
                    log.error("%s: on_recover failed: %r", self.key, recovered[1])
            # Publish on start: the index may hold a stale time (a crash between index and
            # checkpoint), which would otherwise wake this agent again and again.
            due = self.scheduler.next_due()
            await asyncio.to_thread(self.store.set_alarm, self.key, due)
            self._published_alarm = due
            self._alarm.arm(due)
            self.closing = False
            self.started = True

    # ---- AgentRuntime ------------------------------------------------------------------------

    def get_state(self) -> Any:
        return self._state

    def set_state(self, new: Any, source: Any) -> None:
        if self._readonly_turn:
            raise ReadOnlyError(f"{self.key}: a read-only call cannot change state")
        new = self.codec.coerce(new)
        self.agent.validate_state_change(new, source)
        self.codec.encode(new)  # refuse what cannot be checkpointed now, not at turn end
        self._state = new
        self._turn_sources.append(source)

    def sql(self, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        return self.db.execute(query, params)

    def request_destroy(self) -> None:
        self._destroy_requested = True

    def add_state_listener(self, listener: Callable[[Any, Any], None]) -> None:
        """Called with (state, source) after every persisted state change."""
        self._state_listeners.append(listener)

    # ---- calls -------------------------------------------------------------------------------

    def _prepare(self, method: str, args: tuple, kwargs: dict, chain: tuple[str, ...]) -> tuple:
        if self.key in chain:
            path = " -> ".join((*chain, self.key))
            raise ReentrantCallError(
                f"call chain {path} re-enters {self.key}, which is in a turn; agents are not "
                "reentrant (let the first call return, or use a queue)"
            )
        spec = lookup_method(self.agent_cls, method)
        args, kwargs = spec.bind(tuple(args), dict(kwargs))
        return spec, args, kwargs

    async def invoke(
        self, method: str, args: tuple, kwargs: dict, request_id: str | None, chain: tuple[str, ...] = ()
    ) -> Outcome:
        """Run one call as a turn and return its outcome (never raises for user errors)."""
        try:
            spec, args, kwargs = self._prepare(method, args, kwargs, chain)
            if spec.streaming:
                raise InvalidArgumentsError(f"{method} streams its results; call it as a stream")
        except AgentError as exc:
            return outcome.failure(exc)
        if request_id is not None and request_id in self._results:
            return outcome.unpack(self._results[request_id])
        return await self.run_hook(
            lambda: spec.function(self.agent, *args, **kwargs), request_id, chain, readonly=spec.readonly
        )

    async def run_hook(
        self,
        body: Callable[[], Any],
        request_id: str | None = None,
        chain: tuple[str, ...] = (),
        readonly: bool = False,
    ) -> Outcome:
        """Run `body` (a call, or internal code invoking agent hooks) as one turn."""
        self.in_flight += 1
        try:
            async with self._lock:
                if self.closing:
                    return outcome.failure(AgentUnavailableError(f"{self.key} is shutting down"))
                if request_id is not None and request_id in self._results:
                    return outcome.unpack(self._results[request_id])
                return await self._turn(body, request_id, chain, readonly=readonly)
        finally:
            self.in_flight -= 1
            self.last_activity = time.monotonic()

    async def stream(
        self, method: str, args: tuple, kwargs: dict, chain: tuple[str, ...] = ()
    ) -> AsyncIterator[Outcome]:
        """Run an async-generator method as one turn: ("ok", item)... then END_OF_STREAM or an error."""
        try:
            spec, args, kwargs = self._prepare(method, args, kwargs, chain)
            if not spec.streaming:
                raise InvalidArgumentsError(f"{method} does not stream; call it directly")
        except AgentError as exc:
            yield outcome.failure(exc)
            return
        self.in_flight += 1
        try:
            async with self._lock:
                if self.closing:
                    yield outcome.failure(AgentUnavailableError(f"{self.key} is shutting down"))
                    return
                self._enter_turn(chain, spec.readonly)
                try:
                    async for item in spec.function(self.agent, *args, **kwargs):
                        yield outcome.success(item)
                except Exception as exc:
                    self._rollback()
                    yield outcome.failure(exc)
                    return
                except (asyncio.CancelledError, GeneratorExit):  # the caller cancelled the stream
                    self._rollback()
                    raise
                finally:
                    self._readonly_turn = False
                result = await run_to_completion(self._commit(None, outcome.success(None), spec.readonly))
                yield result if result[0] == "err" else END_OF_STREAM
        finally:
            self.in_flight -= 1
            self.last_activity = time.monotonic()

    # ---- turns -------------------------------------------------------------------------------

    def _enter_turn(self, chain: tuple[str, ...], readonly: bool) -> None:
        # Each Ray call runs in its own task, so setting the chain here is local to this call.
        CALL_CHAIN.set((*chain, self.key))
        self._turn_sources = []
        self._progress_state = self._progress_db = False  # set by commit_progress()
        self.sockets.begin_turn()
        self._readonly_turn = readonly
        self.db.begin()

    async def _turn(
        self,
        body: Callable[[], Any],
        request_id: str | None,
        chain: tuple[str, ...] = (),
        readonly: bool = False,
        notify: bool = True,
    ) -> Outcome:
        self._enter_turn(chain, readonly)
        try:
            value = body()
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:
            self._rollback()
            return outcome.failure(exc)
        except asyncio.CancelledError:  # the call was cancelled mid-turn: undo it, then stop
            self._rollback()
            raise
        finally:
            self._readonly_turn = False
        # Past its body a turn is not undone: a cancellation now waits for the checkpoint, so
        # memory never runs ahead of the store and the lock is never released mid-commit.
        return await run_to_completion(self._commit(request_id, outcome.success(value), readonly, notify))

    def _rollback(self) -> None:
        self.sockets.end_turn(committed=False)
        self.db.rollback()
        self._state = self.codec.decode(self._committed_state)
        self.sections = unpack(self._committed_sections)
        self._destroy_requested = False

    async def _commit(
        self, request_id: str | None, result: Outcome, readonly: bool = False, notify: bool = True
    ) -> Outcome:
        """Persist the turn (if it changed anything) before its result is returned."""
        try:
            state_bytes = self.codec.encode(self._state)  # in-place mutations included
        except AgentError as exc:
            self._rollback()
            return outcome.failure(exc)
        sections_bytes = pack(self.sections)
        db_changed = self.db.changed()
        # Changes already persisted mid-turn by commit_progress() count as this turn's changes.
        state_changed = self._progress_state or state_bytes != self._committed_state
        sections_changed = sections_bytes != self._committed_sections
        changed = state_changed or db_changed or self._progress_db or sections_changed
        if readonly and changed:
            self._rollback()
            return outcome.failure(ReadOnlyError(f"{self.key}: a read-only method changed state"))
        self.db.commit()
        if self._destroy_requested:
            self.sockets.end_turn(committed=True)
            return await self._destroy(result)
        if not changed:
            self.sockets.end_turn(committed=True)
            return result
        if self._batch is not None:  # scheduled work: one checkpoint for the batch (run_due)
            self._batch["db"] |= db_changed or self._progress_db
            self.sockets.end_turn(committed=True)
            if state_changed and notify:
                await self._notify_state(self._turn_sources[-1] if self._turn_sources else "server")
            return result
        if request_id is not None:
            self._remember(request_id, result)
        try:
            await self._checkpoint(state_bytes, sections_bytes, db_changed)
        except Exception as exc:
            # Memory is now ahead of the store: this activation must never take another turn.
            # The caller retries (same request id) on a fresh activation restored from the store.
            self.closing = True
            self.sockets.end_turn(committed=False)
            log.error("%s epoch %d: checkpoint failed, retiring activation: %r", self.key, self.epoch, exc)
            return outcome.failure(AgentUnavailableError(f"{self.key}: checkpoint failed: {exc}"))
        self.sockets.end_turn(committed=True)
        if db_changed or self._progress_db:
            self._alarm.arm(self._published_alarm)
        if state_changed and notify:
            await self._notify_state(self._turn_sources[-1] if self._turn_sources else "server")
        return result

    async def commit_progress(self) -> None:
        """Checkpoint what the current turn changed so far (durable steps); the turn goes on."""
        if self._readonly_turn:
            raise ReadOnlyError(f"{self.key}: a read-only call cannot checkpoint changes")
        state_bytes = self.codec.encode(self._state)
        sections_bytes = pack(self.sections)
        db_changed = self.db.changed()
        state_changed = state_bytes != self._committed_state
        self.db.commit()
        try:
            if db_changed or state_changed or sections_bytes != self._committed_sections:
                await self._checkpoint(state_bytes, sections_bytes, db_changed)
                self._progress_state |= state_changed
                self._progress_db |= db_changed
            self.sockets.end_turn(committed=True)  # what was pushed so far is durable now
            self.sockets.begin_turn()
        except Exception as exc:
            self.closing = True
            raise AgentUnavailableError(f"{self.key}: checkpoint failed: {exc}") from exc
        finally:
            self.db.begin()

    def _remember(self, request_id: str, result: Outcome) -> None:
        """Keep the result for a retry of this request after a crash. A result too large to keep
        in every checkpoint (or unpicklable) is replaced by ResultNotKeptError: a retry learns the
        call was applied, and it never runs twice."""
        try:
            packed = outcome.pack(result)
        except Exception:
            packed = None
        if packed is None or len(packed) > MAX_KEPT_RESULT:
            lost = ResultNotKeptError(f"{self.key}: call applied; its result was not kept for retries")
            packed = outcome.pack(outcome.failure(lost))
        self._results[request_id] = packed
        while len(self._results) > self.dedupe_window:
            self._results.popitem(last=False)

    async def _checkpoint(self, state_bytes: bytes, sections_bytes: bytes, db_changed: bool) -> None:
        """Write a checkpoint. Never abandoned half-way: a cancellation waits for it to finish, so
        the in-memory view of what is stored (image, hashes, state) always matches the store."""
        await run_to_completion(self._write_checkpoint(state_bytes, sections_bytes, db_changed))

    async def _write_checkpoint(self, state_bytes: bytes, sections_bytes: bytes, db_changed: bool) -> None:
        image, diff, due = self._image.image, None, self._published_alarm
        if db_changed:
            image = await asyncio.to_thread(self.db.image)
            diff = await asyncio.to_thread(self._image.diff, image)
            due = self.scheduler.next_due()
            # Before the save, the index may only move earlier (a crash then costs a spurious
            # wake-up, never a missed alarm); the exact time is published once the save landed.
            await self._publish_alarm(_earliest(self._published_alarm, due))
        manifest = Manifest(
            epoch=self.epoch,
            state=state_bytes,
            db_size=len(image),
            db_chunks=diff.hashes if diff else self._image.hashes,
            results=dict(self._results),
            sections=self.sections,
        )
        await asyncio.to_thread(
            self.store.save,
            self.key,
            self.epoch,
            manifest.pack(),
            diff.new_chunks if diff else {},
            diff.dropped if diff else (),
        )
        if diff:
            self._image.advance(image, diff)
        self._committed_state = state_bytes
        self._committed_sections = sections_bytes
        self.checkpoints += 1
        await self._publish_alarm(due)

    async def _publish_alarm(self, due: float | None) -> None:
        """Tell the cluster's alarm index when to wake this agent (None: never)."""
        if due != self._published_alarm:
            await asyncio.to_thread(self.store.set_alarm, self.key, due)
            self._published_alarm = due

    async def run_due(self) -> None:
        """Run every due schedule and queue item, each as a turn of its own (rolled back alone if
        it fails), with one checkpoint per batch of due items: nobody waits on these results, and
        at-least-once allows a crash to re-run a batch whose checkpoint did not land."""
        while not self.closing:
            async with self._lock:
                if self.closing:
                    return
                items = self.scheduler.due(time.time())
                if not items:
                    self._alarm.arm(self.scheduler.next_due())
                    return
                self._batch = {"db": False}
                try:
                    for item in items:
                        if self.closing:
                            break
                        await self._run_work(item)
                finally:
                    batch, self._batch = self._batch, None
                await self._checkpoint_batch(batch["db"])
            self.last_activity = time.monotonic()

    async def _checkpoint_batch(self, db_changed: bool) -> None:
        state_bytes, sections_bytes = self.codec.encode(self._state), pack(self.sections)
        unchanged = state_bytes == self._committed_state and sections_bytes == self._committed_sections
        if unchanged and not db_changed:
            return
        try:
            await self._checkpoint(state_bytes, sections_bytes, db_changed)
        except Exception as exc:
            self.closing = True
            log.error("%s epoch %d: checkpoint failed, retiring activation: %r", self.key, self.epoch, exc)

    async def _run_work(self, item: WorkItem) -> None:
        async def body() -> Any:
            method = getattr(self.agent, item.method)
            takes_payload = bool(inspect.signature(method).parameters)
            result = method(item.payload) if takes_payload or item.payload is not None else method()
            if inspect.isawaitable(result):
                result = await result
            self.scheduler.succeeded(item, time.time())
            return result

        result = await self._turn(body, request_id=None)
        if result[0] == "err":
            retried = await self._turn(lambda: self.scheduler.failed(item, time.time()), request_id=None)
            log.warning(
                "%s: %s %s (%s) failed on attempt %d: %r%s",
                self.key,
                item.source,
                item.id,
                item.method,
                item.attempts + 1,
                result[1],
                "; will retry" if retried == ("ok", True) else "; giving up",
            )

    async def _notify_state(self, source: Any) -> None:
        for listener in self._state_listeners:
            try:
                listener(self._state, source)
            except Exception:
                log.exception("%s: state listener failed", self.key)
        # on_state_update runs as its own turn: what it changes is persisted too (without
        # re-notifying, so a hook that always writes cannot loop).
        hook_result = await self._turn(
            lambda: self.agent.on_state_update(self._state, source), None, notify=False
        )
        if hook_result[0] == "err":
            log.error("%s: on_state_update failed: %r", self.key, hook_result[1])

    async def _destroy(self, result: Outcome) -> Outcome:
        """Delete the agent's checkpoint (fenced: a zombie cannot), then retire this activation.
        Either way it takes no more turns: its memory no longer matches the store."""
        self.closing = True
        self._alarm.cancel()
        try:
            await run_to_completion(asyncio.to_thread(self.store.delete, self.key, self.epoch))
        except Exception as exc:
            log.error("%s epoch %d: destroy failed, retiring activation: %r", self.key, self.epoch, exc)
            return outcome.failure(AgentUnavailableError(f"{self.key}: destroy failed: {exc}"))
        self.destroyed = True
        try:
            await asyncio.to_thread(self.store.set_alarm, self.key, None)
        except Exception:  # a leftover index entry only causes one spurious wake of a fresh agent
            log.warning("%s: could not clear the alarm index after destroy", self.key, exc_info=True)
        log.info("%s destroyed", self.key)
        return result

    # ---- lifecycle ---------------------------------------------------------------------------

    def idle_seconds(self) -> float:
        return 0.0 if self.in_flight else time.monotonic() - self.last_activity

    async def close(self) -> None:
        """Take no more turns: wait for the current one, then release the database."""
        async with self._lock:
            self.closing = True
            self._alarm.cancel()
            self.db.close()


def _earliest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


async def run_to_completion(coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` to its end even if the caller is cancelled meanwhile (then re-raise the
    cancellation): for steps that must not stop half-way, like writing a checkpoint."""
    task = asyncio.ensure_future(coro)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()
