"""Code Mode: the model writes a program that calls the agent's tools, and it runs in a real sandbox.

```python
from agents.codemode import run_code

result = await run_code("return await tools.add({a: 1, b: 2});", tools=[add], language="typescript")
result.result, result.error, result.logs
```

Backends: `DenoExecutor` (TypeScript, a fresh permissionless Deno process per run) and `MontyExecutor`
(a safe Python subset, type-checked against the tool stubs before it runs). `describe_tools` renders the
tool declarations for a prompt; `codemode_tool` wraps it all as one function a chat model can call.

A run never outlives its call: however it ends, its sandbox is killed and its tool calls are cancelled
and awaited before `run` returns (a sync tool's thread, which cannot be killed, is cut off from the agent,
see `agents.runscope`). Waiting for a run slot counts against the run's `timeout_s`; a run that gets no
slot in time ends with a `timeout_s` error saying so (`CodeResult.limit` names the limit that ended a run).
"""

from __future__ import annotations

from agents.codemode.deno import DenoExecutor
from agents.codemode.executor import Executor, codemode_tool, run_code
from agents.codemode.limits import Limits, set_max_concurrent_runs
from agents.codemode.monty import MontyExecutor
from agents.codemode.result import CodeResult
from agents.codemode.stubs import describe_tools
from agents.codemode.tools import ToolCallError, ToolSpec

__all__ = [
    "CodeResult",
    "DenoExecutor",
    "Executor",
    "Limits",
    "MontyExecutor",
    "ToolCallError",
    "ToolSpec",
    "codemode_tool",
    "describe_tools",
    "run_code",
    "set_max_concurrent_runs",
]
