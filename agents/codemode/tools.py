"""Tool specs: argument validation, dispatch and result encoding for calls coming out of a sandbox.

Everything a sandbox sends is untrusted. A call names a tool (only the listed ones exist), carries
arguments (validated with pydantic against the tool's type hints, like any RPC), and gets back either
the JSON-encoded result or a `ToolCallError` message that the backend raises *inside* the program.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import threading
import typing
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import pydantic
import pydantic_core

from agents import runscope
from agents.codemode.limits import LimitExceeded, Limits
from agents.errors import InvalidArgumentsError
from agents.runscope import RunScope
from agents.validation import ArgumentValidator

log = logging.getLogger(__name__)
T = TypeVar("T")
#: How long `ToolSet.close` waits for cancelled calls to finish.
_CANCEL_GRACE_S = 1.0


class ToolCallError(Exception):
    """A tool call the host refused or that failed; its message goes back into the program."""


class Validator(Protocol):
    """Checks (and may coerce) a call's arguments, raising InvalidArgumentsError: an `ArgumentValidator`
    for a Python function, a JSON schema check for an MCP server's tool (`agents.mcp_client.codemode`)."""

    def validate(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]: ...


@dataclass(frozen=True)
class ToolSpec:
    """One tool: the function, its validator, and the JSON schemas its declarations are generated from."""

    name: str
    function: Callable[..., Any]
    doc: str
    params_schema: dict[str, Any]
    returns_schema: dict[str, Any]
    validator: Validator

    @classmethod
    def from_function(cls, function: Callable[..., Any]) -> ToolSpec:
        name = getattr(function, "__name__", "")
        if not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"tool {function!r} needs a public identifier as its name")
        for param in inspect.signature(function).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise ValueError(f"tool {name}() may not take *args or **kwargs")
        hints = typing.get_type_hints(function)
        returns = hints.get("return", Any)
        return cls(
            name=name,
            function=function,
            doc=inspect.cleandoc(function.__doc__ or ""),
            params_schema=pydantic.TypeAdapter(function).json_schema(),
            returns_schema=_named(pydantic.TypeAdapter(returns).json_schema(mode="serialization")),
            validator=ArgumentValidator(function),
        )

    def bind(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Validate and coerce arguments against the type hints, or raise ToolCallError."""
        try:
            return self.validator.validate(tuple(args), dict(kwargs))
        except InvalidArgumentsError as exc:
            raise ToolCallError(f"invalid arguments for {exc.message}") from None


def _named(schema: dict[str, Any]) -> dict[str, Any]:
    """A top-level model schema as a `$ref` into `$defs`, so declarations name it like a nested model."""
    if schema.get("type") != "object" or "properties" not in schema or "title" not in schema:
        return schema
    model = {k: v for k, v in schema.items() if k != "$defs"}
    return {"$ref": f"#/$defs/{model['title']}", "$defs": {**schema.get("$defs", {}), model["title"]: model}}


def as_specs(tools: Iterable[Callable[..., Any] | ToolSpec]) -> list[ToolSpec]:
    """ToolSpecs for a mix of plain functions (bound methods included) and ready specs."""
    return [t if isinstance(t, ToolSpec) else ToolSpec.from_function(t) for t in tools]


class ToolSet:
    """The tools one run may call, by name, within the run's limits; their work ends with the run.

    Calls run as tasks in the run's `RunScope` (see `agents.runscope`). `close()` closes the scope,
    then cancels and awaits every call still running. A sync tool runs in a daemon thread of its own
    (one at a time per run) so it cannot stall the event loop or stretch the run past `timeout_s`; a
    thread cannot be killed, so one still running when the run ends goes on in the background, its
    result is dropped, and every call it makes into an agent raises `RunEndedError`.
    """

    def __init__(self, tools: Sequence[Callable[..., Any] | ToolSpec], limits: Limits) -> None:
        self.specs: dict[str, ToolSpec] = {}
        for spec in as_specs(tools):
            if spec.name in self.specs:
                raise ValueError(f"two tools are named {spec.name!r}")
            self.specs[spec.name] = spec
        self._limits = limits
        self._max_bytes = limits.max_message_bytes
        self._calls_left = limits.max_tool_calls
        self._scope = RunScope()
        self._context = contextvars.copy_context()
        self._context.run(runscope.current.set, self._scope)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sync = asyncio.Lock()
        #: Resolved with the LimitExceeded that ends the run early, when the program makes one call too many.
        self.exceeded: asyncio.Future[LimitExceeded] = self._scope.loop.create_future()

    async def call(self, name: str, args: Sequence[Any] = (), kwargs: Any = None) -> Any:
        """Run one call from the sandbox; return its JSON-able result or raise ToolCallError
        (LimitExceeded past the budget: the run ends)."""
        await self.room()
        self.charge()
        return await self.track(self.invoke(name, args, kwargs))

    async def room(self) -> None:
        """Wait until fewer than `max_parallel_tool_calls` calls are in flight."""
        while len(self._tasks) >= self._limits.max_parallel_tool_calls:
            await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)

    def charge(self) -> None:
        """Count one call against `max_tool_calls`; past it, raise LimitExceeded (and resolve `exceeded`)."""
        if self._calls_left <= 0:
            exc = LimitExceeded(
                "max_tool_calls",
                f"tool call limit reached: the program made more than {self._limits.max_tool_calls} "
                "tool calls (max_tool_calls)",
            )
            if not self.exceeded.done():
                self.exceeded.set_result(exc)
            raise exc
        self._calls_left -= 1

    def track(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run `work` as a task of this run: in its scope, cancelled by `close()`."""
        task = self._scope.loop.create_task(work, context=self._context)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def invoke(self, name: str, args: Sequence[Any] = (), kwargs: Any = None) -> Any:
        """Validate and run one call (already charged); its JSON-able result, or ToolCallError."""
        spec = self.specs.get(name)
        if spec is None:
            available = ", ".join(sorted(self.specs)) or "none"
            raise ToolCallError(f"unknown tool {name!r}; available: {available}")
        kwargs = {} if kwargs is None else kwargs
        if not isinstance(kwargs, Mapping):
            raise ToolCallError(f"{name}() takes one object of named arguments")
        if self._too_large([args, kwargs]):
            raise ToolCallError(f"arguments for {name}() exceed max_message_bytes ({self._max_bytes})")
        bound_args, bound_kwargs = spec.bind(args, kwargs)
        try:
            if inspect.iscoroutinefunction(spec.function):
                value = await spec.function(*bound_args, **bound_kwargs)
            else:
                value = await self._in_thread(spec.function, bound_args, bound_kwargs)
                if inspect.isawaitable(value):
                    value = await value
            value = pydantic_core.to_jsonable_python(value)
        except Exception as exc:
            raise ToolCallError(f"{name}() failed: {type(exc).__name__}: {exc}") from None
        if self._too_large(value):
            raise ToolCallError(f"{name}() returned more than max_message_bytes ({self._max_bytes})")
        return value

    async def close(self) -> None:
        """End the run's tools: close the scope, cancel the calls still running and wait for them."""
        self._scope.close()
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=_CANCEL_GRACE_S)
            if stuck:  # a tool that swallows cancellation: it can no longer reach an agent
                log.warning("%d code mode tool calls ignored cancellation", len(stuck))

    def _too_large(self, value: Any) -> bool:
        return len(pydantic_core.to_json(value, fallback=repr)) > self._max_bytes

    async def _in_thread(
        self, function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        loop = self._scope.loop
        done: asyncio.Future[Any] = loop.create_future()
        context = contextvars.copy_context()

        def settle(outcome: Callable[[Any], None], value: Any) -> None:
            if not done.done():  # the run may have stopped waiting
                outcome(value)

        def work() -> None:
            outcome: tuple[Callable[[Any], None], Any]
            try:
                outcome = (done.set_result, context.run(function, *args, **kwargs))
            except Exception as exc:
                outcome = (done.set_exception, exc)
            with contextlib.suppress(RuntimeError):  # the event loop is gone
                loop.call_soon_threadsafe(settle, *outcome)

        async with self._sync:
            name = f"codemode-tool-{getattr(function, '__name__', '?')}"
            threading.Thread(target=work, name=name, daemon=True).start()
            return await done
