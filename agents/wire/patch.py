"""State deltas as JSON Patch (RFC 6902), restricted to `add`, `remove` and `replace`.

Chosen over JSON Merge Patch (RFC 7396) because agent state is mostly dicts that grow lists
(chat messages, events): a patch can append one item (`/messages/-`) where a merge patch must
resend the whole list, and it can set a key to null, which a merge patch reads as "delete".
"""

from __future__ import annotations

import copy
from typing import Any

Patch = list[dict[str, Any]]


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def diff(old: Any, new: Any, path: str = "") -> Patch:
    """Operations that turn `old` into `new` (JSON-like data)."""
    if type(old) is not type(new):
        return [{"op": "replace", "path": path, "value": new}]
    if isinstance(old, dict):
        ops: Patch = [{"op": "remove", "path": f"{path}/{_escape(k)}"} for k in old if k not in new]
        for key, value in new.items():
            child = f"{path}/{_escape(key)}"
            if key not in old:
                ops.append({"op": "add", "path": child, "value": value})
            elif old[key] != value:
                ops.extend(diff(old[key], value, child))
        return ops
    if isinstance(old, list):
        if len(new) >= len(old) and new[: len(old)] == old:  # appended
            return [{"op": "add", "path": f"{path}/-", "value": v} for v in new[len(old) :]]
        if len(new) == len(old):
            ops = []
            for i, (a, b) in enumerate(zip(old, new, strict=True)):
                if a != b:
                    ops.extend(diff(a, b, f"{path}/{i}"))
            return ops
        return [{"op": "replace", "path": path, "value": new}]
    return [] if old == new else [{"op": "replace", "path": path, "value": new}]


def apply(doc: Any, patch: Patch) -> Any:
    """`doc` with `patch` applied (a new object; `doc` is not changed). Raises ValueError."""
    doc = copy.deepcopy(doc)
    for op in patch:
        kind, path, value = op["op"], op["path"], op.get("value")
        if path == "":
            if kind == "remove":
                raise ValueError("cannot remove the whole document")
            doc = copy.deepcopy(value)
            continue
        *parents, last = [_unescape(t) for t in path.split("/")[1:]]
        target = doc
        try:
            for token in parents:
                target = target[int(token)] if isinstance(target, list) else target[token]
            if isinstance(target, list):
                if kind == "add" and last == "-":
                    target.append(copy.deepcopy(value))
                elif kind == "add":
                    target.insert(int(last), copy.deepcopy(value))
                elif kind == "remove":
                    del target[int(last)]
                else:
                    target[int(last)] = copy.deepcopy(value)
            elif kind == "remove":
                del target[last]
            else:
                if kind == "replace" and last not in target:
                    raise KeyError(last)
                target[last] = copy.deepcopy(value)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ValueError(f"patch op {op!r} does not apply: {exc!r}") from None
    return doc
