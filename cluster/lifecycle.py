"""The lifecycle of one activation, as one value.

```
STARTING --start()--> SERVING --close() / failed checkpoint--> CLOSED --host retires it--> RETIRED
                         \\--destroy()--> DESTROYED ------------------------------------/
```
Only a SERVING activation takes turns. CLOSED means it must take no more: it is hibernating, or a
checkpoint failed and its memory is ahead of the store (callers retry on a fresh activation).
DESTROYED means its checkpoint is deleted. RETIRED means its host asked the controller to stop it.
"""

from __future__ import annotations

import enum


class ActivationState(enum.Enum):
    STARTING = "starting"
    SERVING = "serving"
    CLOSED = "closed"
    DESTROYED = "destroyed"
    RETIRED = "retired"

    @property
    def serving(self) -> bool:
        return self is ActivationState.SERVING
