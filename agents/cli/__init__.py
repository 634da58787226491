"""`ray-agents`: run the ingress locally and talk to agents from a shell (`ray-agents --help`).

```
ray-agents dev examples.app:app              # local Ray (with dashboard) + Serve on :8000, until Ctrl-C
ray-agents start --store redis://...         # make sure the placement controller runs
ray-agents call counter alice add 5          # HTTP RPC: JSON arguments, NAME=VALUE keyword ones
ray-agents state counter alice               # the agent's state, over a WebSocket
ray-agents ls                                # live and hibernated agents (attaches to the cluster)
ray-agents logs counter alice -f             # the log lines of the agent's host process
ray-agents destroy counter alice --yes       # delete the agent for good
ray-agents events counter alice -f           # the agent's events (calls, checkpoints, wakes) as they happen
ray-agents top                               # agents by type, live and hibernated, with rates
```
Ray is imported inside the commands that need it, never by `import agents.cli`.
"""

from agents.cli import types, watch  # noqa: F401  (register `types`, `events` and `top`)
from agents.cli.commands import cli, main

__all__ = ["cli", "main"]
