"""ray-agents: stateful, durable agents on a Ray cluster.

```python
from agents import Agent, callable, get_agent

class Counter(Agent):
    initial_state = {"count": 0}

    @callable
    async def add(self, n: int) -> int:
        self.set_state({"count": self.state["count"] + n})
        return self.state["count"]

await get_agent(Counter, "alice").add(5)
```
"""

from __future__ import annotations

from agents.agent import Agent
from agents.checkpoints import CheckpointInfo
from agents.errors import (
    ActivationError,
    AgentDestroyedError,
    AgentError,
    AgentExistsError,
    AgentUnavailableError,
    CheckpointNotFoundError,
    ChunkTooLargeError,
    CorruptCheckpointError,
    DatabaseFullError,
    HostFullError,
    InvalidAgentIdError,
    InvalidArgumentsError,
    InvalidHostingError,
    InvalidStateError,
    NotCallableError,
    ReadOnlyError,
    ReentrantCallError,
    RemoteError,
    ResultNotKeptError,
    StaleEpochError,
    StateTooLargeError,
    StoreFailedError,
    StoreInterruptedError,
    StoreUnavailableError,
    UnknownAgentClassError,
    UnknownMethodError,
)
from agents.handle import AgentHandle, SyncAgentHandle, get_agent, handle_of
from agents.methods import callable, prompt
from agents.runtime import configure, list_agents, start

__all__ = [
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
