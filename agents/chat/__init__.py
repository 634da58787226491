"""AI chat agents over litellm: tools, durable history, resumable streams, human approval.

```python
from agents.chat import ChatAgent, tool

def get_weather(city: str) -> str:
    "The weather in a city."
    return f"sunny in {city}"

class Assistant(ChatAgent):
    model = "anthropic/claude-sonnet-4-5"
    system = "You are terse."
    tools = [get_weather, tool(delete_account, needs_approval=True)]

async for chunk in get_agent(Assistant, "alice").chat("weather in Paris?"):
    ...
```
"""

from __future__ import annotations

from agents.chat.agent import ChatAgent, ChatContext
from agents.chat.chunks import (
    ApprovalRequest,
    Chunk,
    Done,
    Rewind,
    Start,
    Text,
    ToolCallChunk,
    ToolResultChunk,
)
from agents.chat.model import ToolCall, Usage, stream_completion
from agents.chat.tools import Tool, ToolResult, tool
from agents.errors import ApprovalPendingError, UnknownApprovalError, UnknownStreamError

__all__ = [
    "ApprovalPendingError",
    "ApprovalRequest",
    "ChatAgent",
    "ChatContext",
    "Chunk",
    "Done",
    "Rewind",
    "Start",
    "Text",
    "Tool",
    "ToolCall",
    "ToolCallChunk",
    "ToolResult",
    "ToolResultChunk",
    "UnknownApprovalError",
    "UnknownStreamError",
    "Usage",
    "stream_completion",
    "tool",
]
