"""What `agents` exports is a decision: this list changes only on purpose."""

from __future__ import annotations

import agents

PUBLIC = [
    "ActivationError",
    "Agent",
    "AgentDestroyedError",
    "AgentError",
    "AgentExistsError",
    "AgentHandle",
    "AgentUnavailableError",
    "CheckpointInfo",
    "CheckpointNotFoundError",
    "ChunkTooLargeError",
    "CorruptCheckpointError",
    "DatabaseFullError",
    "HostFullError",
    "InvalidAgentIdError",
    "InvalidArgumentsError",
    "InvalidHostingError",
    "InvalidStateError",
    "NotCallableError",
    "ReadOnlyError",
    "ReentrantCallError",
    "RemoteError",
    "ResultNotKeptError",
    "StaleEpochError",
    "StateTooLargeError",
    "StoreFailedError",
    "StoreInterruptedError",
    "StoreUnavailableError",
    "SyncAgentHandle",
    "UnknownAgentClassError",
    "UnknownMethodError",
    "callable",
    "configure",
    "get_agent",
    "handle_of",
    "list_agents",
    "prompt",
    "start",
]


def test_the_exported_names_are_exactly_the_public_api() -> None:
    assert agents.__all__ == PUBLIC
    assert agents.__all__ == sorted(agents.__all__)
    assert all(hasattr(agents, name) for name in PUBLIC)
