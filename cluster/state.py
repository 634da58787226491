"""How an agent's state is validated and turned into bytes (msgpack) and back."""

from __future__ import annotations

import copy
from typing import Any

import msgpack
import pydantic

from agents.errors import InvalidStateError


def pack(value: Any) -> bytes:
    """msgpack-encode plain data; raise InvalidStateError for what msgpack cannot hold."""
    try:
        return msgpack.packb(value, use_bin_type=True, datetime=False)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidStateError(f"state cannot be serialized: {exc}") from None


def unpack(data: bytes) -> Any:
    """Decode what `pack` wrote."""
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


class StateCodec:
    """State of one agent class: a plain dict (or any msgpack data), or a pydantic model `State`."""

    def __init__(self, agent_cls: type) -> None:
        model = getattr(agent_cls, "State", None)
        self.model: type[pydantic.BaseModel] | None = (
            model if isinstance(model, type) and issubclass(model, pydantic.BaseModel) else None
        )
        self._initial = getattr(agent_cls, "initial_state", None)

    def initial(self) -> Any:
        """A fresh copy of the class's initial state."""
        if self.model is not None:
            return self.coerce(self._initial if self._initial is not None else {})
        return copy.deepcopy(self._initial if self._initial is not None else {})

    def coerce(self, value: Any) -> Any:
        """Validate a proposed state against the model (if any); raise InvalidStateError."""
        if self.model is None:
            return value
        if isinstance(value, self.model):
            value = value.model_dump()
        try:
            return self.model.model_validate(value)
        except pydantic.ValidationError as exc:
            raise InvalidStateError(f"state does not match {self.model.__name__}: {exc}") from None

    def encode(self, state: Any) -> bytes:
        if self.model is not None:
            return pack(state.model_dump(mode="json"))
        return pack(state)

    def decode(self, data: bytes) -> Any:
        value = unpack(data)
        return self.model.model_validate(value) if self.model is not None else value

    def to_plain(self, state: Any) -> Any:
        """JSON-friendly form of the state, for clients."""
        return state.model_dump(mode="json") if self.model is not None else state
