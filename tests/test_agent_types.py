"""One type name per class, one store per namespace: what a second caller that disagrees gets."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from ray import cloudpickle

from agents import Agent, callable, get_agent
from agents.errors import ActivationError, StoreMismatchError, TypeNameCollisionError
from cluster import routing
from cluster.config import RuntimeConfig
from cluster.stores import open_store, printable, same_store
from serve.registry import AgentRegistry


class ChatRoom(Agent):
    initial_state = {"n": 0}

    @callable
    def add(self, n: int) -> int:
        self.set_state({"n": self.state["n"] + n})
        return self.state["n"]


def _another(name: str = "ChatRoom", **attributes: object) -> type[Agent]:
    """A different class (another qualified name) named like ChatRoom, or as `attributes` say."""
    return type(name, (ChatRoom,), {"__qualname__": f"elsewhere.{name}", **attributes})


@pytest.fixture
def namespace(ray_runtime: None, tmp_path: Path) -> Iterator[str]:
    """A namespace and file store of their own, for this test."""
    name = f"t-types-{random.randrange(10**9)}"
    previous = routing.router().config
    routing.configure(RuntimeConfig(namespace=name, store_url=f"file://{tmp_path / 'store'}"))
    yield name
    routing.configure(previous)
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry["namespace"] == name:
            ray.kill(ray.get_actor(entry["name"], namespace=name), no_restart=True)


def test_type_names_are_derived_in_kebab_case_or_chosen_and_checked() -> None:
    assert ChatRoom.type_name == "chat-room"
    assert _another("HTTPServer").type_name == "http-server"
    assert _another(type_name="rooms").type_name == "rooms"
    assert _another("Sub").type_name == "sub"  # a subclass never inherits its parent's name
    with pytest.raises(TypeError, match=r"type_name must be a letter"):
        _another(type_name="bad/name")
    with pytest.raises(TypeError, match=r"derived from its name"):
        _another("_Private")  # a derived name is checked too: set type_name


async def test_a_second_class_cannot_take_a_type_name_or_its_agents(namespace: str) -> None:
    assert await get_agent(ChatRoom, "a").add(1) == 1
    with pytest.raises(TypeNameCollisionError, match=r"'chat-room' is tests.test_agent_types.ChatRoom"):
        await get_agent(_another(), "a").add(1)
    assert await get_agent("chat-room", "a").add(1) == 2  # the name's class and agent, untouched
    routing.configure(routing.router().config)  # a new process: the store remembers who holds it
    with pytest.raises(TypeNameCollisionError):
        await get_agent(_another(), "b").add(1)
    with pytest.raises(TypeNameCollisionError):
        AgentRegistry([ChatRoom, _another()])  # and an app serving both refuses to start


async def test_a_store_from_before_type_names_asks_the_class_to_choose(
    namespace: str, tmp_path: Path
) -> None:
    store = open_store(f"file://{tmp_path / 'store'}", namespace)
    store.save_class("ChatRoom", cloudpickle.dumps(ChatRoom))  # what an earlier version left
    with pytest.raises(ActivationError, match=r"Set `type_name = 'ChatRoom'` on the class to keep"):
        await get_agent(ChatRoom, "old").add(1)
    same = {"__qualname__": "ChatRoom"}  # the same class, now choosing its name
    keep = type("ChatRoom", (ChatRoom,), {**same, "type_name": "ChatRoom"})
    assert await get_agent(keep, "old").add(1) == 1
    fresh = type("ChatRoom", (ChatRoom,), {**same, "type_name": "chat-room"})
    assert await get_agent(fresh, "old").add(5) == 5


async def test_a_caller_choosing_another_store_is_refused_and_one_choosing_none_joins(
    namespace: str, tmp_path: Path
) -> None:
    assert await get_agent(ChatRoom, "s").add(1) == 1
    elsewhere = tmp_path / "elsewhere"
    routing.configure(RuntimeConfig(namespace=namespace, store_url=f"file://{elsewhere}"))
    with pytest.raises(StoreMismatchError, match="one store per namespace"):
        await get_agent(ChatRoom, "s").add(1)
    assert not elsewhere.exists()
    routing.configure(RuntimeConfig(namespace=namespace, store_url=f"file://{tmp_path}/./store/"))
    assert await get_agent(ChatRoom, "s").add(1) == 2  # the same directory, spelled otherwise
    routing.configure(RuntimeConfig(namespace=namespace, store_url=None))
    assert await get_agent(ChatRoom, "s").add(1) == 3  # chose none: the controller's


def test_store_urls_name_one_store_however_spelled(tmp_path: Path) -> None:
    assert same_store(f"file://{tmp_path}/./a/", f"file://{tmp_path}/a")
    assert same_store("redis://h:6379", "redis://h:6379/0")
    assert not same_store("redis://h:6379/0", "redis://h:6379/1")
    assert printable("redis://:hunter2@h:6379/0") == "redis://:***@h:6379/0"
