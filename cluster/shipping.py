"""How agent classes reach the controller and the hosts: user code travels by value.

The controller and the hosts are detached actors, started by whoever touched the cluster first
(a `ray job submit` script, a Serve replica, a driver), with that caller's runtime environment.
A class pickled by reference (`examples.app.Counter`) then only works if every later caller's
modules happen to be importable there too. So classes from the user's own code (modules outside
the Python installation's site-packages and standard library, and not ray-agents itself) are
pickled by value: their module's code goes with them, and any caller can register them in any
order. What they import from installed packages must be installed on the cluster's nodes.

Each shipped class carries a digest of its package's loaded source files, so the controller can
tell a new version of a class (store the registration again) from the same code sent by another
process (nothing to do).
"""

from __future__ import annotations

import hashlib
import site
import sys
import sysconfig
from functools import cache
from pathlib import Path

from ray import cloudpickle

from agents.agent import Agent
from agents.errors import TypeNameCollisionError

#: ray-agents' own packages: the same installation on every node, always by reference.
OUR_PACKAGES = frozenset({"agents", "cluster", "serve"})
#: Class attributes of a shipped class: the digest of the code it was defined by, and where
#: (cloudpickle keeps a class's `__name__` and `__module__`, not its `__qualname__`).
CODE_DIGEST = "__ray_agents_code__"
ORIGIN = "__ray_agents_origin__"

_prepared: set[type] = set()


def prepare(agent_cls: type[Agent]) -> type[Agent]:
    """Make `agent_cls` pickle by value if it is user code, and stamp its code digest (once)."""
    if agent_cls in _prepared:
        return agent_cls
    module = sys.modules.get(agent_cls.__module__)
    top = agent_cls.__module__.partition(".")[0]
    if module is not None and _is_user_code(top, module):
        if top != "__main__":  # cloudpickle already ships `__main__` by value
            cloudpickle.register_pickle_by_value(sys.modules[top])
        if CODE_DIGEST not in agent_cls.__dict__:  # a class that came by value keeps its sender's
            setattr(agent_cls, CODE_DIGEST, _package_digest(top))
    setattr(agent_cls, ORIGIN, origin(agent_cls))
    _prepared.add(agent_cls)
    return agent_cls


def origin(agent_cls: type) -> str:
    """`module.QualName` where the class was defined: what tells two classes of one type name apart."""
    return agent_cls.__dict__.get(ORIGIN) or f"{agent_cls.__module__}.{agent_cls.__qualname__}"


def refuse_another_class(name: str, held: type, other: type) -> None:
    """TypeNameCollisionError unless `held` (the class holding type name `name`) and `other` are
    one class (perhaps rebuilt from the pickles of two processes)."""
    if held is not other and origin(held) != origin(other):
        raise TypeNameCollisionError.between(name, origin(held), origin(other))


def code_digest(agent_cls: type) -> str | None:
    """The digest a shipped class carries (None: an installed class, pickled by reference)."""
    return agent_cls.__dict__.get(CODE_DIGEST)


def _is_user_code(top: str, module: object) -> bool:
    if top in OUR_PACKAGES:
        return False
    file = getattr(module, "__file__", None)
    if file is None:  # built in, or made at run time: cloudpickle decides
        return False
    path = Path(file).resolve()
    return not any(path.is_relative_to(root) for root in _installed_roots())


@cache
def _installed_roots() -> tuple[Path, ...]:
    """Where installed packages and the standard library live (their code is on every node)."""
    paths = {sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.update(site.getsitepackages())
    paths.add(site.getusersitepackages())
    return tuple(Path(p).resolve() for p in paths if p)


def _package_digest(top: str) -> str:
    """sha256 of the source files of the package's modules loaded in this process."""
    digest = hashlib.sha256()
    files = sorted(
        {
            module.__file__
            for name, module in list(sys.modules.items())
            if (name == top or name.startswith(top + ".")) and getattr(module, "__file__", None)
        }
    )
    for file in files:
        digest.update(file.encode())
        try:
            digest.update(Path(file).read_bytes())
        except OSError:  # a module whose file went away: its name still counts
            continue
    return digest.hexdigest()[:16]
