"""The checkpoint store contract: fenced, atomic checkpoints made of a manifest and chunks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit


class CheckpointStore(ABC):
    """Durable home of agent checkpoints.

    A checkpoint is a small manifest (state, metadata, hashes of the chunks it needs) plus
    content-addressed chunks: the agent's SQLite base image and page deltas over it
    (`cluster.images`), so a turn that touches one page writes one small chunk, not the database.
    Chunks are only ever deleted by `collect`. A checkpoint may also be kept as a numbered history
    entry (a restore point). Every write is fenced: `bump_epoch` hands out a new epoch per
    activation and `save`/`collect`/`delete` refuse (StaleEpochError) an epoch older than the
    newest one handed out.
    """

    def bump_epoch(self, key: str) -> int:
        """Atomically increment and return the agent's epoch; older epochs are fenced from now on."""
        bumped = self.bump_epochs([key])[0]
        if isinstance(bumped, Exception):
            raise bumped
        return bumped

    @abstractmethod
    def bump_epochs(self, keys: list[str]) -> list[int | Exception]:
        """`bump_epoch` for each key (a burst of activations), each succeeding or failing on its
        own, sharing round trips and fsyncs."""

    @abstractmethod
    def current_epoch(self, key: str) -> int:
        """The newest epoch handed out for the agent (0 if none)."""

    @abstractmethod
    def load_manifest(self, key: str) -> bytes | None:
        """The latest manifest, or None for an agent never checkpointed."""

    @abstractmethod
    def load_chunks(self, key: str, hashes: Iterable[str]) -> dict[str, bytes]:
        """Chunks by hash."""

    @abstractmethod
    def save(
        self,
        key: str,
        epoch: int,
        manifest: bytes,
        new_chunks: Mapping[str, bytes],
        keep_as: int | None = None,
    ) -> None:
        """Atomically publish a checkpoint; raise StaleEpochError if `epoch` has been superseded.

        `new_chunks` are written before the manifest that names them. With `keep_as`, the manifest
        is also kept as history entry number `keep_as`, in the same atomic step.
        """

    @abstractmethod
    def put_chunks(self, key: str, chunks: Mapping[str, bytes]) -> None:
        """Store chunks durably without publishing a checkpoint (a fork copies them ahead of its
        first one). Unfenced: chunks are content-addressed, and one nothing references is only
        space until `collect` deletes it."""

    @abstractmethod
    def history(self, key: str) -> list[int]:
        """Numbers of the kept history entries, oldest first."""

    @abstractmethod
    def load_history(self, key: str, seq: int) -> bytes | None:
        """The manifest kept as history entry `seq`, or None."""

    @abstractmethod
    def chunk_names(self, key: str) -> set[str]:
        """Hashes of every chunk stored for the agent."""

    def has_traces(self, key: str) -> bool:
        """Whether anything of a checkpoint is stored for the agent (chunks, restore points, a
        record that it saved one): with no manifest, the manifest was lost; it is not a new agent.
        A destroyed agent (`delete`) has none."""
        return bool(self.history(key) or self.chunk_names(key))

    @abstractmethod
    def collect(self, key: str, epoch: int, forget: Collection[int], drop: Collection[str]) -> None:
        """Forget history entries and delete chunks (fenced like `save`)."""

    @abstractmethod
    def delete(self, key: str, epoch: int) -> None:
        """Remove the agent's checkpoint, history and chunks for good (fenced like `save`), and
        remember it was destroyed (`destroyed`). The epoch counter stays."""

    @abstractmethod
    def destroyed(self, key: str) -> bool:
        """Whether the agent was destroyed (`delete`) and not checkpointed since."""

    @abstractmethod
    def keys(self) -> list[str]:
        """Keys of every agent that has a checkpoint."""

    @abstractmethod
    def set_alarm(self, key: str, due: float | None) -> None:
        """Record when the agent must next be woken (a Unix time), or clear it with None."""

    @abstractmethod
    def due_alarms(self, now: float, limit: int = 100) -> list[tuple[str, float]]:
        """(key, due) of agents whose alarm is due at `now`, earliest first."""

    @abstractmethod
    def save_class(self, name: str, blob: bytes) -> None:
        """Remember how to load an agent class (cloudpickled), so alarms can wake its agents."""

    @abstractmethod
    def load_class(self, name: str) -> bytes | None:
        """What `save_class` stored, or None."""

    @staticmethod
    def all_found(key: str, wanted: list[str], found: dict[str, bytes]) -> dict[str, bytes]:
        """`found` if it has every wanted chunk, else KeyError naming the missing ones."""
        missing = [h for h in wanted if h not in found]
        if missing:
            raise KeyError(f"{key}: checkpoint chunks missing: {missing[:3]}")
        return found

    def close(self) -> None:  # noqa: B027 - optional for stores without connections
        """Release connections."""


def printable(url: str) -> str:
    """The URL without its password, for messages and logs (every store's errors show it so)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
