"""Caller side: find an agent's live activation (cached), call it, and retry across failover."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import pickle
import threading
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import ray
from ray.exceptions import RayActorError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from agents.agent import Agent
from agents.errors import (
    ActivationError,
    AgentError,
    AgentUnavailableError,
    HostFullError,
    ReentrantCallError,
    StoreMismatchError,
)
from agents.hosting import validate_hosting
from agents.ids import validate_agent_id
from agents.wire.retry import backoff
from cluster import outcome, shipping, tracing
from cluster.batching import Coalescer
from cluster.config import RuntimeConfig
from cluster.context import CALL_CHAIN, OUTPUT_GATE
from cluster.naming import CONTROLLER_NAME, agent_key
from cluster.shipping import refuse_another_class
from cluster.stores import printable, same_store

log = logging.getLogger("ray_agents.routing")
T = TypeVar("T")

AgentClass = type[Agent] | str
#: What a caller asks the controller for: (class or its name, agent ID, the epoch it saw die or None).
ActivationRequest = tuple[AgentClass, str, int | None]


@dataclass(frozen=True)
class Target:
    """Where an agent's live activation is: the host actor carrying it, its key and its epoch.
    Every host method names the agent: `t.actor.connect.remote(t.key, t.epoch, ...)` (the hot path,
    `invoke`, takes them inside its one bytes argument)."""

    actor: Any
    key: str
    epoch: int


#: One attempt of a state-changing request (`Router.submit_once`): the host call for (target,
#: request id, acks, trace carrier), returning its outcome.
Submit = Callable[[Target, str, tuple[str, ...], tracing.Carrier | None], Awaitable[outcome.Outcome]]


class Router:
    """One per process. Caches each agent's actor handle so the hot path is a single actor call;
    goes to the controller only on a miss or after the cached activation died or moved."""

    def __init__(self, config: RuntimeConfig | None = None) -> None:
        self.config = config or RuntimeConfig()
        self._controller: Any = None
        #: The class each type name called from this process stands for.
        self._types: dict[str, type[Agent]] = {}
        #: Whether the running controller was seen to use the store this process chose.
        self._store_checked = self.config.store_url is None
        self._placements: dict[str, Target] = {}
        #: Request ids whose calls ended, per agent, told to it with the next call (`Received`).
        self._received = Received()
        #: Concurrent first calls to different agents ask the controller in one call.
        self._activations: Coalescer[ActivationRequest, outcome.Outcome] = Coalescer(self._activate)

    # ---- controller --------------------------------------------------------------------------

    def controller(self) -> Any:
        """The controller's handle, creating the detached controller if none runs yet."""
        if self._controller is None:
            if not ray.is_initialized():
                ray.init()
            from cluster.controller import PlacementController

            try:
                self._controller = ray.get_actor(CONTROLLER_NAME, namespace=self.config.namespace)
            except ValueError:
                here = ray.get_runtime_context().get_node_id()
                self._controller = (
                    ray.remote(PlacementController)
                    .options(
                        name=CONTROLLER_NAME,
                        namespace=self.config.namespace,
                        lifetime="detached",
                        get_if_exists=True,
                        max_restarts=-1,
                        max_task_retries=-1,
                        num_cpus=0,
                        scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=True),
                    )
                    .remote(self.config)
                )
        return self._controller

    def _key(self, agent: AgentClass, agent_id: str) -> str:
        """The agent's key (`_checked_key`); a class whose type name another class holds in this
        process is refused (cached activations are found by name: they would serve the wrong class)."""
        if not isinstance(agent, str):
            refuse_another_class(agent.type_name, self._types.setdefault(agent.type_name, agent), agent)
        return _checked_key(agent, agent_id)

    async def checked_controller(self) -> Any:
        """The controller, once it was seen to use the checkpoint store this process chose (if
        it chose one): a second store for one namespace would be two homes for each agent."""
        controller = self.controller()
        if not self._store_checked:
            theirs = await controller.store_url.remote()
            ours = self.config.store_url or theirs
            if not same_store(ours, theirs):
                raise StoreMismatchError(
                    f"this process chose the checkpoint store {printable(ours)}, but the ray-agents "
                    f"controller of namespace {self.config.namespace!r} (started by another process) "
                    f"uses {printable(theirs)}: use one store per namespace (set RAY_AGENTS_STORE the "
                    "same everywhere, e.g. on `ray start`), or another namespace (RAY_AGENTS_NAMESPACE)"
                )
            self._store_checked = True
        return controller

    async def _resolve(self, agent: AgentClass, agent_id: str, key: str, stale: int | None) -> Target:
        cached = self._placements.get(key)
        if cached is not None and (stale is None or cached.epoch > stale):
            return cached
        await self.checked_controller()
        actor, epoch = (await self._activations.submit((_shipped(agent), agent_id, stale))).unwrap()
        target = self._placements[key] = Target(actor, key, epoch)
        return target

    async def _activate(self, requests: list[ActivationRequest]) -> list[outcome.Outcome]:
        """Ask the controller for these activations in one call (`PlacementController.activate`)."""
        try:
            pending = self.controller().activate.remote(requests)
        except (TypeError, pickle.PicklingError) as exc:  # Ray pickles the classes when it sends them
            if len(requests) > 1:  # find whose class it is: the others must not fail with it
                return [r for one in requests for r in await self._activate([one])]
            agent, agent_id, _ = requests[0]
            key = agent_key(_type_name(agent), agent_id)
            error = ActivationError(f"{key}: the agent class cannot be pickled to the cluster: {exc}")
            return [outcome.failure(error)]
        return await pending

    # ---- calls -------------------------------------------------------------------------------

    async def call(self, agent: AgentClass, agent_id: str, method: str, args: tuple, kwargs: dict) -> Any:
        """Invoke a method; retried with the same request id after failover, so it runs once."""
        chain = CALL_CHAIN.get()

        async def invoke(
            t: Target, request_id: str, acks: tuple[str, ...], trace: tracing.Carrier | None
        ) -> outcome.Outcome:
            call = outcome.encode_call((t.key, t.epoch, method, args, kwargs, request_id, chain, acks, trace))
            return outcome.decode(await _cancellable(t.actor.invoke.remote(call)))

        return await self.submit_once(agent, agent_id, invoke, method=method)

    async def submit_once(
        self,
        agent: AgentClass,
        agent_id: str,
        submit: Submit,
        *,
        method: str,
        parent: tracing.Span | None = None,
    ) -> Any:
        """`submit` with failover for a state-changing request: `submit(target, request_id,
        acks, trace)` sends one request id on every attempt (the agent applies it once), the ids
        of this caller's earlier requests to the agent that have ended (their results need not be
        kept for retries any more: `Received`) and the trace context of the call's span
        (`agents.route`, a child of `parent` or of the current span), which the agent's turn
        continues. `method` names the call in that span."""
        key = self._key(agent, agent_id)
        request_id, acks = uuid.uuid4().hex, self._received.take(key)
        try:
            with tracing.route(_type_name(agent), agent_id, method, request_id, parent) as span:
                trace = tracing.carrier(span)
                return await self._with_failover(
                    agent, agent_id, lambda t: submit(t, request_id, acks, trace)
                )
        except BaseException:  # perhaps no attempt reached the agent: tell it with the next call
            self._received.add(key, *acks)
            raise
        finally:  # answered, failed for good or cancelled: this caller never retries it again
            self._received.add(key, request_id)

    async def describe(self, agent: AgentClass, agent_id: str) -> dict[str, Any]:
        """Where the agent's activation runs (activating it if needed): key, epoch, pid, node."""

        return await self._with_failover(agent, agent_id, lambda t: t.actor.describe.remote(t.key, t.epoch))

    async def submit(
        self, agent: AgentClass, agent_id: str, submit: Callable[[Target], Awaitable[outcome.Outcome]]
    ) -> Any:
        """Run `submit(target)` (a host call returning an outcome) on the live activation, with
        failover. A retry may repeat it, so it should carry a request id where running twice matters."""
        return await self._with_failover(agent, agent_id, submit)

    async def locate(self, agent: AgentClass, agent_id: str, stale: int | None = None) -> Target:
        """The live activation's target, activating it if needed; `stale` reports a dead one."""
        key = agent_key(_type_name(agent), validate_agent_id(agent_id))
        return await self._resolve(agent, agent_id, key, stale)

    async def _with_failover(
        self, agent: AgentClass, agent_id: str, submit: Callable[[Target], Awaitable[outcome.Outcome]]
    ) -> Any:
        """Run `submit(target)` on the live activation, re-resolving after it died or moved."""
        key = self._key(agent, agent_id)
        await _output_gate()
        stale: int | None = None
        last_error: Exception | None = None
        for attempt in range(self.config.call_attempts):
            epoch = None
            try:
                target = await self._resolve(agent, agent_id, key, stale)
                epoch = target.epoch
                result = await _cancellable(submit(target))
            except RayActorError as exc:
                last_error = exc
            except AgentError as exc:  # from the controller: retriable only if activation was cut short
                if not exc.retriable:
                    raise
                last_error = exc
            else:
                if not result.retriable:
                    return result.unwrap()
                last_error = result.error
            stale = epoch if epoch is not None else stale
            log.info("%s epoch %s unavailable (%s); retrying", key, epoch, type(last_error).__name__)
            await asyncio.sleep(backoff(attempt, first_free=True))
        if isinstance(last_error, HostFullError):
            raise last_error  # no room anywhere, still: say so, in its own words
        attempts = self.config.call_attempts
        log.warning("%s: no live activation after %d attempts; the last error: %s", key, attempts, last_error)
        raise AgentUnavailableError(
            f"{key}: no live activation after {attempts} attempts ({_one_line(last_error)})"
        ) from last_error

    async def stream(
        self,
        agent: AgentClass,
        agent_id: str,
        method: str,
        args: tuple,
        kwargs: dict,
        parent: tracing.Span | None = None,
    ) -> AsyncIterator[Any]:
        """Iterate a streaming method. Failover is retried only before the first item arrives.
        Its span (`agents.route`) is a child of `parent`, else of the current span."""
        key = self._key(agent, agent_id)
        with tracing.route(_type_name(agent), agent_id, method, None, parent) as span:
            trace = tracing.carrier(span)
            await _output_gate()
            chain = CALL_CHAIN.get()
            stale: int | None = None
            for attempt in range(self.config.call_attempts):
                epoch = None
                started = False
                try:
                    target = await self._resolve(agent, agent_id, key, stale)
                    epoch = target.epoch
                    items = target.actor.stream.options(num_returns="streaming").remote(
                        key, epoch, method, args, kwargs, chain, trace
                    )
                    try:
                        async for ref in items:
                            batch: list[outcome.Outcome] = await ref
                            for item in batch:
                                if item.end:
                                    return
                                if item.retriable and not started:
                                    break
                                started = True
                                yield item.unwrap()
                            else:
                                continue
                            break  # retriable before the first item: try again
                    except (asyncio.CancelledError, GeneratorExit):  # the caller stopped: stop the agent too
                        ray.cancel(items)
                        raise
                except RayActorError as exc:
                    if started:
                        log.warning("%s: the stream of %s was cut: %s", key, method, exc)
                        raise AgentUnavailableError(
                            f"{key}: its activation died during the stream of {method}; call it again"
                        ) from exc
                except AgentError as exc:
                    if not exc.retriable:
                        raise
                stale = epoch if epoch is not None else stale
                await asyncio.sleep(backoff(attempt, first_free=True))
            raise AgentUnavailableError(
                f"{key}: no live activation after {self.config.call_attempts} attempts"
            )

    async def manage(self, operation: str, agent: AgentClass, agent_id: str, *args: Any) -> Any:
        """A controller operation on one agent's restore points (`checkpoints`, `restore`,
        `fork`, `destroy`). The cached activation is forgotten: a restore or destroy replaced it.
        An agent may not restore or destroy itself this way from its own turn (that waits for the
        turn to end; `Agent.destroy()` is the way from inside)."""
        if operation in ("restore", "destroy"):
            self._key(agent, agent_id)
        controller = await self.checked_controller()
        result = await getattr(controller, operation).remote(_shipped(agent), agent_id, *args)
        self.forget(agent, agent_id)
        return result.unwrap()

    def forget(self, agent: AgentClass, agent_id: str) -> None:
        """Drop the cached handle (the next call asks the controller)."""
        self._placements.pop(agent_key(_type_name(agent), agent_id), None)


class Received:
    """Request ids of calls that ended, per agent, not yet told to it. Each call tells the agent
    the ids received since the last one, so it can forget their results (kept for retries). What
    is dropped here (too many agents or ids) only keeps results longer, up to the agent's cap."""

    MAX_AGENTS = 1024
    MAX_IDS = 64

    def __init__(self) -> None:
        self._ids: OrderedDict[str, list[str]] = OrderedDict()

    def add(self, key: str, *request_ids: str) -> None:
        ids = self._ids.setdefault(key, [])
        ids.extend(request_ids[: self.MAX_IDS - len(ids)])
        self._ids.move_to_end(key)
        if len(self._ids) > self.MAX_AGENTS:
            self._ids.popitem(last=False)

    def take(self, key: str) -> tuple[str, ...]:
        return tuple(self._ids.pop(key, ()))


async def _cancellable(pending: Awaitable[outcome.Outcome]) -> outcome.Outcome:
    """Await a call; if the caller is cancelled, cancel the call inside the agent too (its turn
    is rolled back, or it never starts if it was still waiting for its turn)."""
    try:
        return await pending
    except asyncio.CancelledError:
        if isinstance(pending, ray.ObjectRef):
            ray.cancel(pending)
        raise


async def _output_gate() -> None:
    """Inside a turn, wait until what the calling agent committed so far is stored (and fail if
    it could not be): the callee must not act on state that could still be lost."""
    gate = OUTPUT_GATE.get()
    if gate is not None:
        failed = await gate()
        if failed is not None:
            raise failed


def _checked_key(agent: AgentClass, agent_id: str) -> str:
    """The agent's key, refusing a call that re-enters an agent already in a turn up the chain.
    Checked here too, not only in the agent: the agent may still be starting (its `on_start`
    made the call), and the controller would then wait on its own activation forever."""
    key = agent_key(_type_name(agent), validate_agent_id(agent_id))
    chain = CALL_CHAIN.get()
    if key in chain:
        raise ReentrantCallError(
            f"call chain {' -> '.join(chain)} -> {key} re-enters {key}, which is in a turn; agents are "
            "not reentrant (let the first call return, or use a queue)"
        )
    return key


def _one_line(exc: BaseException | None) -> str:
    """Why an attempt failed, in one line for the caller: Ray's own messages span many lines of
    internals (they go to the log)."""
    if isinstance(exc, RayActorError):
        return "its activation died"
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _shipped(agent: AgentClass) -> AgentClass:
    return agent if isinstance(agent, str) else shipping.prepare(agent)


def _type_name(agent: AgentClass) -> str:
    return agent if isinstance(agent, str) else agent.type_name


class _LoopThread:
    """A private event loop on a daemon thread, so blocking code can use the async router."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="ray-agents-sync", daemon=True).start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()


_router: Router | None = None
_loop_thread: _LoopThread | None = None
_lock = threading.Lock()


def configure_process(
    *, namespace: str | None = None, store: str | None = None, hosting: str | None = None
) -> None:
    """`agents.configure`: these settings (or the environment's defaults) for this process's calls."""
    defaults = RuntimeConfig()
    configure(
        dataclasses.replace(
            defaults,
            namespace=namespace or defaults.namespace,
            store_url=store or defaults.store_url,
            hosting=validate_hosting(hosting or defaults.hosting, "hosting"),
        )
    )


def configure(config: RuntimeConfig) -> None:
    """Use these settings for this process's calls (before the first call)."""
    global _router
    with _lock:
        _router = Router(config)


def router() -> Router:
    global _router
    with _lock:
        if _router is None:
            _router = Router()
        return _router


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from blocking code."""
    global _loop_thread
    with _lock:
        if _loop_thread is None:
            _loop_thread = _LoopThread()
    return _loop_thread.run(coro)
