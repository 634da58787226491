"""One live agent: restored from its checkpoint, run in turns, checkpointed before each ack.

Independent of Ray, so one host process can carry many activations. Split by concern: the
lifecycle is `cluster.lifecycle`, what a turn changed and writing it is `cluster.changes`,
connections are `cluster.sockets`, schedules `cluster.scheduler`; this module runs the turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from agents import events
from agents.agent import Agent, SqlParams
from agents.errors import (
    ActivationError,
    AgentError,
    AgentUnavailableError,
    CorruptCheckpointError,
    InvalidArgumentsError,
    ReadOnlyError,
    ReentrantCallError,
    StoreUnavailableError,
)
from agents.limits import SizeLimits
from cluster import outcome, tracing
from cluster.alarms import AlarmTimer
from cluster.changes import ChangeSet, Checkpointer, PendingCheckpoint
from cluster.checkpoint import Manifest
from cluster.context import CALL_CHAIN, OUTPUT_GATE
from cluster.database import AgentDatabase
from cluster.group_commit import GroupCommit
from cluster.lifecycle import ActivationState
from cluster.methods import MethodSpec, lookup_method
from cluster.naming import agent_key
from cluster.outcome import END_OF_STREAM, Outcome
from cluster.retention import Retention
from cluster.scheduler import Scheduler, WorkItem
from cluster.snapshots import Snapshot, read_snapshot
from cluster.sockets import Push, SocketHub
from cluster.state import StateCodec, unpack
from cluster.stores import CheckpointStore
from cluster.threads import run_to_completion, run_user_sync

log = logging.getLogger("ray_agents.activation")
T = TypeVar("T")


@dataclass
class Turn:
    """The turn in progress: who may change what, and what it already checkpointed."""

    #: What the turn runs: a method's name, or a hook's.
    method: str = ""
    readonly: bool = False
    #: The `source` of each `set_state` in this turn (the last one is reported to listeners).
    sources: list[Any] = field(default_factory=list)
    #: State / SQL changes already checkpointed mid-turn by `Agent.checkpoint()`.
    saved_state: bool = False
    saved_db: bool = False
    #: `Agent.destroy()` was called: delete the agent once the turn ends.
    destroy: bool = False


class Activation:
    """The runtime behind one agent instance (implements `agents.agent.AgentRuntime`)."""

    def __init__(
        self,
        agent_cls: type[Agent],
        agent_id: str,
        epoch: int,
        store: CheckpointStore,
        dedupe_window: int = 128,
        offload_sync: bool = False,
        clear_stale_alarm: bool = False,
        node: str = "",
    ) -> None:
        self.agent_cls = agent_cls
        #: The Ray node this activation runs on (its events say so).
        self.node = node
        self.agent_id = agent_id
        self.type_name = agent_cls.type_name
        self.epoch = epoch
        self.key = agent_key(self.type_name, agent_id)
        self.store = store
        self.dedupe_window = dedupe_window
        #: Run sync `@callable` methods in a worker thread (pooled hosting: they would otherwise
        #: block every host-mate's turns on the shared event loop).
        self.offload_sync = offload_sync
        #: Woken for an alarm: publish its next due time at start even if it never scheduled
        #: (a stale index entry would otherwise wake it again and again).
        self.clear_stale_alarm = clear_stale_alarm
        self.codec = StateCodec(agent_cls)
        self.limits = SizeLimits.of(agent_cls)
        self.state = ActivationState.STARTING
        self.last_activity = time.monotonic()
        self.in_flight = 0
        self._lock = asyncio.Lock()
        self._turn_record = Turn()
        #: True while run_due() runs a batch of due work (one checkpoint for the whole batch).
        self._in_batch = False
        #: SQL committed by turns but not yet in a checkpoint (the turns of a batch).
        self._db_unsaved = False
        #: Pushes of the turns of a batch of due work, sent with the batch's checkpoint.
        self._batch_pushes: list[Push] = []
        #: State and sections (encoded) as the last turn of a batch in progress committed them:
        #: a later turn of the batch that fails rolls back to these, not to the last checkpoint.
        self._batch_committed: tuple[bytes, bytes] | None = None
        self._state_listeners: list[Callable[[Any, Any], None]] = []
        self._alarm = AlarmTimer(self.run_due)
        #: Client connections and HTTP entry points (`cluster.sockets`).
        self.sockets = SocketHub(self)
        #: Checkpoint writes (each with the trace context of the turn that queued it) and the output
        #: gate (the checkpointer exists once `start` restored it).
        self._group: GroupCommit[tuple[PendingCheckpoint, tracing.Context | None], Push] = GroupCommit(
            self._write_checkpoint, self.sockets.release, self._checkpoint_failed
        )

    # ---- start -------------------------------------------------------------------------------

    async def start(self, snapshot: Snapshot | None = None) -> None:
        """Restore state and SQL from the latest checkpoint (`snapshot`, if the host read it
        already), then run `on_start` as a turn."""
        begun = time.monotonic()
        try:
            if snapshot is None:
                snapshot = await asyncio.to_thread(read_snapshot, self.store, self.key)
            self.db = AgentDatabase(snapshot.path, self.limits)
            snapshot.taken = True
            restored = snapshot.manifest is not None
            manifest = snapshot.manifest or Manifest(
                epoch=self.epoch, state=self.codec.encode(self.codec.initial())
            )
            self._state = self.codec.decode(manifest.state)
        except (CorruptCheckpointError, StoreUnavailableError):
            raise
        except Exception as exc:
            raise ActivationError(f"{self.key}: cannot restore checkpoint: {exc!r}") from exc
        self.checkpointer = Checkpointer(
            self.key,
            self.epoch,
            self.store,
            manifest,
            snapshot.stored,
            self.dedupe_window,
            Retention(self.agent_cls.checkpoint_retention, manifest.collected),
        )
        self.sections: dict[str, Any] = manifest.sections
        self.scheduler = Scheduler(self.agent_cls, self.sql, lambda: self.db.empty)
        agent = self.agent_cls.__new__(self.agent_cls)
        agent._runtime = self
        agent.__init__()
        self.agent = agent
        async with self._lock:
            started = await self._turn(agent.on_start, request_id=None, name="on_start")
            if not started.ok:
                raise ActivationError(f"{self.key}: on_start failed: {started.error!r}") from started.error
            unfinished = self.scheduler.unfinished_jobs()
            if unfinished:
                log.warning("%s: durable jobs left unfinished by a crash: %s", self.key, unfinished)
                recovered = await self._turn(lambda: agent.on_recover(unfinished), None, name="on_recover")
                if not recovered.ok:
                    log.error("%s: on_recover failed: %r", self.key, recovered.error)
            failed = await self._durable()
            if failed is not None:
                raise ActivationError(f"{self.key}: on_start failed: {failed!r}") from failed
            # Publish on start: the index may hold a stale time (a crash between index and
            # checkpoint), which would otherwise wake this agent again and again. An agent that
            # never scheduled anything has no entry to correct (and skips a store write).
            due = self.scheduler.next_due()
            if self.scheduler.in_use() or self.clear_stale_alarm:
                await self.checkpointer.publish_alarm(due, force=True)
            if self.state is not ActivationState.STARTING:  # dropped or replaced while starting
                raise AgentUnavailableError(f"{self.key}: stopped while starting ({self.state.value})")
            self._alarm.arm(due)
            self.state = ActivationState.SERVING
        if restored:
            self.emit("wake", time.monotonic() - begun, alarm=self.clear_stale_alarm)
        else:
            self.emit("activation", time.monotonic() - begun)

    # ---- AgentRuntime ------------------------------------------------------------------------

    def get_state(self) -> Any:
        return self._state

    def set_state(self, new: Any, source: Any) -> None:
        if self._turn_record.readonly:
            raise ReadOnlyError(f"{self.key}: a read-only call cannot change state")
        new = self.codec.coerce(new)
        self.agent.validate_state_change(new, source)
        self.limits.check_state(self.codec.encode(new))  # refuse what cannot be checkpointed now
        self._state = new
        self._turn_record.sources.append(source)

    def sql(self, query: str, params: SqlParams) -> list[dict[str, Any]]:
        return self.db.execute(query, params)

    def sql_many(self, query: str, rows: Iterable[SqlParams]) -> int:
        return self.db.executemany(query, rows)

    def request_destroy(self) -> None:
        self._turn_record.destroy = True

    def turn_is_readonly(self) -> bool:
        return self._turn_record.readonly

    def add_state_listener(self, listener: Callable[[Any, Any], None]) -> None:
        """Called with (state, source) after every persisted state change."""
        self._state_listeners.append(listener)

    # ---- calls -------------------------------------------------------------------------------

    def _prepare(
        self, method: str, args: tuple, kwargs: dict, chain: tuple[str, ...], streaming: bool
    ) -> tuple[MethodSpec, tuple, dict]:
        if self.key in chain:
            path = " -> ".join((*chain, self.key))
            raise ReentrantCallError(
                f"call chain {path} re-enters {self.key}, which is in a turn; agents are not "
                "reentrant (let the first call return, or use a queue)"
            )
        spec = lookup_method(self.agent_cls, method, prompts=True)
        if spec.streaming and not streaming:
            raise InvalidArgumentsError(f"{method} streams its results; call it as a stream")
        if streaming and not spec.streaming:
            raise InvalidArgumentsError(f"{method} does not stream; call it directly")
        args, kwargs = spec.bind(tuple(args), dict(kwargs))
        return spec, args, kwargs

    async def invoke(
        self,
        method: str,
        args: tuple,
        kwargs: dict,
        request_id: str | None,
        chain: tuple[str, ...] = (),
        acks: tuple[str, ...] = (),
        trace: tracing.Carrier | None = None,
    ) -> Outcome:
        """Run one call as a turn and return its outcome (never raises for user errors). `acks`:
        request ids whose results the caller has received: they need not be kept any more.
        `trace`: the caller's span (`tracing.carrier`), which the turn's span continues."""
        with self.turn_span(method, request_id, trace) as span:
            return tracing.ended(span, await self._invoke(method, args, kwargs, request_id, chain, acks))

    async def _invoke(
        self,
        method: str,
        args: tuple,
        kwargs: dict,
        request_id: str | None,
        chain: tuple[str, ...],
        acks: tuple[str, ...],
    ) -> Outcome:
        self.checkpointer.forget_results(acks)
        try:
            spec, args, kwargs = self._prepare(method, args, kwargs, chain, streaming=False)
        except AgentError as exc:
            return outcome.failure(exc)
        kept = self.checkpointer.result(request_id) if request_id is not None else None
        if kept is not None:
            return await self._gated(kept)
        function, agent = spec.function, self.agent
        started = time.monotonic()
        if self.offload_sync and not inspect.iscoroutinefunction(function):
            result = await self.run_hook(
                lambda: run_user_sync(function, agent, *args, **kwargs),
                request_id,
                chain,
                spec.readonly,
                method,
            )
        else:
            result = await self.run_hook(
                lambda: function(agent, *args, **kwargs), request_id, chain, spec.readonly, method
            )
        self._called(method, started, result)
        return result

    async def run_hook(
        self,
        body: Callable[[], Any],
        request_id: str | None = None,
        chain: tuple[str, ...] = (),
        readonly: bool = False,
        name: str = "hook",
    ) -> Outcome:
        """Run `body` (a call, or internal code invoking agent hooks) as one turn."""
        self.in_flight += 1
        try:
            async with self._lock:
                if not self.state.serving:
                    return outcome.failure(AgentUnavailableError(f"{self.key} is shutting down"))
                kept = self.checkpointer.result(request_id) if request_id is not None else None
                result = kept or await self._turn(body, request_id, chain, readonly=readonly, name=name)
            # The next turn runs while this one's checkpoint is written (group commit); its
            # result leaves once a checkpoint covering it has landed (the output gate).
            return await self._gated(result)
        finally:
            self.in_flight -= 1
            self.last_activity = time.monotonic()

    async def stream(
        self,
        method: str,
        args: tuple,
        kwargs: dict,
        chain: tuple[str, ...] = (),
        trace: tracing.Carrier | None = None,
    ) -> AsyncIterator[Outcome]:
        """Run an async-generator method as one turn: its items, then END_OF_STREAM or an error.
        `trace`: the caller's span (`tracing.carrier`), which the turn's span continues."""
        with self.turn_span(method, None, trace) as span:
            try:
                spec, args, kwargs = self._prepare(method, args, kwargs, chain, streaming=True)
            except AgentError as exc:
                yield tracing.ended(span, outcome.failure(exc))
                return
            self.in_flight += 1
            started = time.monotonic()
            try:
                async with self._lock:
                    failed = await self._durable()  # its items leave at once: what they show is stored
                    if failed is not None or not self.state.serving:
                        refused = failed or AgentUnavailableError(f"{self.key} is shutting down")
                        yield tracing.ended(span, outcome.failure(refused))
                        return
                    self._enter_turn(chain, spec.readonly, method)
                    try:
                        async with contextlib.aclosing(spec.function(self.agent, *args, **kwargs)) as items:
                            async for item in items:
                                self.limits.check_item(item)
                                yield outcome.success(item)
                    except Exception as exc:
                        self._rollback()
                        self._called(method, started, outcome.failure(exc))
                        yield tracing.ended(span, outcome.failure(exc))
                        return
                    except (asyncio.CancelledError, GeneratorExit):  # the caller cancelled the stream
                        self._rollback()
                        raise
                    result = await self._gated(await self._commit(None, END_OF_STREAM))
                    self._called(method, started, result)
                    yield tracing.ended(span, result)
            finally:
                self.in_flight -= 1
                self.last_activity = time.monotonic()

    def turn_span(
        self, method: str, request_id: str | None, trace: tracing.Carrier | None
    ) -> AbstractContextManager[tracing.Span | None]:
        """The span of a call's turn here (`tracing.turn`), continuing the caller's `trace`."""
        return tracing.turn(self.type_name, self.agent_id, self.epoch, method, request_id, trace)

    async def between_turns(self, read: Callable[[], T]) -> T:
        """`read()` once no turn runs, so it sees what turns committed only (the inspector). It
        is no turn: it changes nothing and is no activity (an inspected agent still hibernates)."""
        async with self._lock:
            return read()

    # ---- turns -------------------------------------------------------------------------------

    @property
    def current_turn(self) -> str | None:
        """What the turn in progress runs (None between turns); the watchdog reports it."""
        return self._turn_record.method if self._lock.locked() else None

    def _enter_turn(self, chain: tuple[str, ...], readonly: bool, name: str) -> None:
        # Each Ray call runs in its own task, so setting the chain here is local to this call.
        CALL_CHAIN.set((*chain, self.key))
        OUTPUT_GATE.set(self._durable)  # calls to other agents wait until what they saw is stored
        events.turn_emitter.set(self.emit)  # SDK code without the agent at hand emits through it
        self._turn_record = Turn(method=name, readonly=readonly)
        self.sockets.begin_turn()
        self.db.begin()

    async def _turn(
        self,
        body: Callable[[], Any],
        request_id: str | None,
        chain: tuple[str, ...] = (),
        readonly: bool = False,
        notify: bool = True,
        name: str = "hook",
    ) -> Outcome:
        self._enter_turn(chain, readonly, name)
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
        return await self._commit(request_id, outcome.success(value), notify)

    def _rollback(self) -> None:
        self.sockets.drop_held()
        self.db.rollback()
        checkpointed = (self.checkpointer.committed_state, self.checkpointer.committed_sections)
        state, sections = self._batch_committed or checkpointed
        self._state = self.codec.decode(state)
        self.sections = unpack(sections)
        self._turn_record = Turn()

    def _changes(self) -> ChangeSet:
        """What differs from the last committed turn (state changed in place included). Raises
        InvalidStateError when the state can no longer be encoded, StateTooLargeError when it grew
        past its limit, DatabaseFullError when a statement of the turn found the database full."""
        db_changed = self.db.changed() or self._db_unsaved
        changes = self.checkpointer.changes(self.codec.encode(self._state), self.sections, db_changed)
        if changes.state_changed:
            self.limits.check_state(changes.state)
        return changes

    def _request_checkpoint(self, changes: ChangeSet, pushes: list[Push]) -> None:
        """Queue a checkpoint of everything committed so far (captured now), and the pushes to
        send once it has landed (`cluster.group_commit`), after those of a batch in progress."""
        pushes, self._batch_pushes = self._batch_pushes + pushes, []
        self._batch_committed = None  # what is committed now is in the checkpointer
        try:
            capture = self.checkpointer.capture(changes, self.db, self.scheduler.next_due)
        except Exception as exc:  # memory is ahead of what can be stored: give up, send nothing
            self._group.fail(exc)
            return
        self._db_unsaved = False
        self._group.request((capture, tracing.context()), pushes)

    def after_gate(self, pushes: list[Push]) -> None:
        """Send pushes once every checkpoint queued so far has landed (at once if none is)."""
        self._group.request(None, pushes)

    async def _gated(self, result: Outcome) -> Outcome:
        """`result` once every checkpoint queued so far has landed (the output gate), or the
        failure of the one that did not."""
        failed = await self._durable()
        return result if failed is None else outcome.failure(failed)

    async def _durable(self) -> AgentUnavailableError | None:
        """Wait until every checkpoint queued so far has landed. If one failed, the retriable
        error to answer instead (memory was ahead of the store; callers retry, by request id,
        on a fresh activation restored from the store)."""
        try:
            await self._group.drain()
        except Exception as exc:
            return AgentUnavailableError(f"{self.key}: checkpoint failed: {exc}")
        return None

    def _checkpoint_failed(self, exc: BaseException) -> None:
        """A checkpoint write failed: this activation takes no more turns (its host retires it)."""
        if self.state.serving or self.state is ActivationState.STARTING:
            self.state = ActivationState.CLOSED
        log.error("%s epoch %d: checkpoint failed, retiring activation: %r", self.key, self.epoch, exc)
        self.emit("checkpoint:error", error=events.error_code(exc))

    async def _write_checkpoint(self, queued: tuple[PendingCheckpoint, tracing.Context | None]) -> None:
        capture, parent = queued
        started = time.monotonic()
        with tracing.checkpoint(self.type_name, self.agent_id, self.epoch, parent) as span:
            saved = await self.checkpointer.write(capture)
            tracing.checkpointed(span, saved, self.checkpointer.seq)
        self.emit("checkpoint", time.monotonic() - started, bytes=saved, seq=self.checkpointer.seq)

    def _called(self, method: str, started: float, result: Outcome) -> None:
        """The `rpc` or `rpc:error` event of a call."""
        if result.error is None:
            self.emit("rpc", time.monotonic() - started, method=method)
        else:
            self.emit(
                "rpc:error", time.monotonic() - started, method=method, error=events.error_code(result.error)
            )

    def emit(self, name: str, duration_s: float | None = None, **data: Any) -> None:
        """Emit an event of this agent (`agents.events`), if anyone listens."""
        if events.listening(name):
            event = events.Event(
                name, self.type_name, self.agent_id, self.epoch, self.node, time.time(), duration_s, data
            )
            events.emit(event)

    async def _commit(self, request_id: str | None, result: Outcome, notify: bool = True) -> Outcome:
        """End the turn: queue a checkpoint of what it changed (if anything), with its pushes.
        The result is returned to the caller once that checkpoint has landed (`_gated`); the
        next turn may start before. Past its body a turn is not undone."""
        turn = self._turn_record
        try:
            changes = self._changes()
        except AgentError as exc:
            self._rollback()
            return outcome.failure(exc)
        # Changes already checkpointed mid-turn by commit_progress() count as this turn's changes.
        state_changed = changes.state_changed or turn.saved_state
        db_changed = changes.db_changed or turn.saved_db
        if turn.readonly and (state_changed or db_changed or changes.sections_changed):
            self._rollback()
            return outcome.failure(ReadOnlyError(f"{self.key}: a read-only method changed state"))
        self.db.commit()
        self._db_unsaved = changes.db_changed
        if turn.destroy:
            self.after_gate(self.sockets.take_held())
            return await run_to_completion(self._destroy(result))
        if not (state_changed or db_changed or changes.sections_changed):
            self.after_gate(self.sockets.take_held())
            return result
        if request_id is not None:
            self.checkpointer.remember(request_id, result)
        notify = notify and state_changed
        source = turn.sources[-1] if turn.sources else "server"
        if state_changed:
            self.emit("state:update", source=getattr(source, "id", "server"), bytes=len(changes.state))
        if notify:  # state sync: pushed with the turn's own pushes, when durable
            self._tell_listeners(source)
        pushes = self.sockets.take_held()
        if self._in_batch:  # a batch of due work checkpoints once, at its end (run_due)
            self._batch_pushes += pushes
            self._batch_committed = (changes.state, changes.sections)
        else:
            self._request_checkpoint(changes, pushes)
            if changes.db_changed or turn.saved_db:
                self._alarm.arm(self.scheduler.next_due())
        if notify:
            await self._state_update_hook(source)
        return result

    async def commit_progress(self) -> None:
        """Checkpoint what the current turn changed so far (durable steps) and wait for it; the
        turn goes on. What it pushed so far leaves once that checkpoint has landed."""
        turn = self._turn_record
        if turn.readonly:
            raise ReadOnlyError(f"{self.key}: a read-only call cannot checkpoint changes")
        changes = self._changes()
        self.db.commit()
        try:
            pushes = self.sockets.take_held()
            if changes.empty:
                self.after_gate(pushes)
            else:
                self._request_checkpoint(changes, pushes)
                turn.saved_state |= changes.state_changed
                turn.saved_db |= changes.db_changed
            failed = await run_to_completion(self._durable())
            if failed is not None:
                raise failed
        finally:
            self.sockets.begin_turn()
            self.db.begin()

    # ---- due work ----------------------------------------------------------------------------

    async def run_due(self) -> None:
        """Run every due schedule and queue item, each as a turn of its own (rolled back alone if
        it fails), with one checkpoint per batch of due items: nobody waits on these results, and
        at-least-once allows a crash to re-run a batch whose checkpoint did not land."""
        while self.state.serving:
            async with self._lock:
                if not self.state.serving:
                    return
                items = self.scheduler.due(time.time())
                if not items:
                    self._alarm.arm(self.scheduler.next_due())
                    return
                self._in_batch = True
                try:
                    for item in items:
                        if not self.state.serving:
                            break
                        await self._run_work(item)
                finally:
                    self._in_batch = False
                try:
                    await self._persist_batch()
                finally:
                    self._batch_committed = None
            self.last_activity = time.monotonic()

    async def _persist_batch(self) -> None:
        pushes, self._batch_pushes = self._batch_pushes, []
        if not self.state.serving:  # destroyed or closed by a turn of the batch: nothing to save
            return
        changes = self._changes()
        if changes.empty:
            self.after_gate(pushes)
        else:
            self._request_checkpoint(changes, pushes)

    async def _run_work(self, item: WorkItem) -> None:
        async def body() -> Any:
            method = getattr(self.agent, item.method)
            takes_payload = bool(inspect.signature(method).parameters)
            result = method(item.payload) if takes_payload or item.payload is not None else method()
            if inspect.isawaitable(result):
                result = await result
            self.scheduler.succeeded(item, time.time())
            return result

        started = time.monotonic()
        late_s = time.time() - item.due
        result = await self._turn(body, request_id=None, name=item.method)
        facts = {"method": item.method, "id": item.id, "attempt": item.attempts + 1}
        if result.error is None:
            self.emit(f"{item.source}:run", time.monotonic() - started, **facts, late_s=late_s)
        else:
            retried = await self._turn(lambda: self.scheduler.failed(item, time.time()), request_id=None)
            retrying = retried.ok and retried.value is True
            error = events.error_code(result.error)
            verb = "retry" if retrying else "error"
            self.emit(f"{item.source}:{verb}", time.monotonic() - started, **facts, error=error)
            log.warning(
                "%s: %s %s (%s) failed on attempt %d: %r%s",
                self.key,
                item.source,
                item.id,
                item.method,
                item.attempts + 1,
                result.error,
                "; will retry" if retrying else "; giving up",
            )

    def _tell_listeners(self, source: Any) -> None:
        for listener in self._state_listeners:
            try:
                listener(self._state, source)
            except Exception:
                log.exception("%s: state listener failed", self.key)

    async def _state_update_hook(self, source: Any) -> None:
        """on_state_update runs as its own turn: what it changes is checkpointed too (without
        re-notifying, so a hook that always writes cannot loop)."""
        hook = await self._turn(
            lambda: self.agent.on_state_update(self._state, source),
            None,
            notify=False,
            name="on_state_update",
        )
        if not hook.ok:
            log.error("%s: on_state_update failed: %r", self.key, hook.error)

    # ---- end of life -------------------------------------------------------------------------

    async def _destroy(self, result: Outcome) -> Outcome:
        """Delete the agent's checkpoint (fenced: a zombie cannot), then retire this activation.
        Either way it takes no more turns: its memory no longer matches the store."""
        self.state = ActivationState.CLOSED
        self._alarm.cancel()
        failed = await self._durable()  # a checkpoint landing after the delete would revive it
        if failed is not None:
            return outcome.failure(failed)
        try:
            await run_to_completion(asyncio.to_thread(self.store.delete, self.key, self.epoch))
        except Exception as exc:
            log.error("%s epoch %d: destroy failed, retiring activation: %r", self.key, self.epoch, exc)
            return outcome.failure(AgentUnavailableError(f"{self.key}: destroy failed: {exc}"))
        self.state = ActivationState.DESTROYED
        try:
            await asyncio.to_thread(self.store.set_alarm, self.key, None)
        except Exception:  # a leftover index entry only causes one spurious wake of a fresh agent
            log.warning("%s: could not clear the alarm index after destroy", self.key, exc_info=True)
        log.info("%s destroyed", self.key)
        return result

    @property
    def checkpoints(self) -> int:
        """How many checkpoints this activation wrote."""
        return self.checkpointer.count if "checkpointer" in self.__dict__ else 0

    def idle_seconds(self) -> float:
        """Seconds since the last turn ended (0 while a call waits, a turn runs or a checkpoint
        is being written)."""
        busy = self.in_flight or self._lock.locked() or self._group.gate() is not None
        waiting = self._mcp is not None and self._mcp.authorizing  # an OAuth user is on the way back
        return 0.0 if busy or waiting else time.monotonic() - self.last_activity

    @property
    def _mcp(self) -> Any:
        """The agent's MCP client, if it has used one (`Agent.mcp`, made on first use)."""
        return vars(self.agent).get("mcp") if "agent" in self.__dict__ else None

    async def close(self) -> None:
        """Take no more turns: wait for the current one, then release the database."""
        if self.state in (ActivationState.SERVING, ActivationState.STARTING):
            self.state = ActivationState.CLOSED  # no new turn starts while this waits for the lock
        self._alarm.cancel()
        if self._mcp is not None:
            self._mcp.close()  # its authorizations in progress end with it
        async with self._lock:
            self._alarm.cancel()  # again: a turn that was running when close() began re-armed it
            await self._durable()  # queued checkpoints land (or fail) before it hibernates
            if "db" in self.__dict__:  # not if it was closed before its start restored it
                self.db.close()
