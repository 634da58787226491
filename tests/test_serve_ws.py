"""WebSockets through the Serve ingress: lifecycle, state sync, broadcast, calls, bad frames, failover."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import websockets

from agents import ReadOnlyError, get_agent, list_agents
from agents.client import AgentClient, ConnectionRefusedByAgent
from cluster.naming import agent_key
from cluster.sockets import LIVENESS_CHECK
from tests.agents_for_serve import DedicatedTally, Hibernating, Tally


def ws_url(base: str, agent: str, agent_id: str, query: str = "") -> str:
    return f"{base.replace('http', 'ws', 1)}/agents/{agent}/{agent_id}" + (f"?{query}" if query else "")


async def until(predicate: Callable[[], Any], timeout: float = 30.0) -> None:
    """Wait for a condition that a push or another process makes true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def frames(ws: Any, kind: str) -> dict[str, Any]:
    """The next protocol frame of this type (others are skipped)."""
    while True:
        raw = await asyncio.wait_for(ws.recv(), 30)
        if isinstance(raw, str) and raw.startswith("{"):
            frame = json.loads(raw)
            if frame.get("type") == kind:
                return frame


@pytest.fixture
async def clients(served: str, agent_id: str) -> AsyncIterator[Callable[..., Any]]:
    opened: list[AgentClient] = []

    async def open_client(agent: str = "tally", query: dict | None = None, **kw: Any) -> AgentClient:
        client = AgentClient(ws_url(served, agent, agent_id), query=query, **kw)
        opened.append(client)
        return await client.connect()

    yield open_client
    await asyncio.gather(*(c.close() for c in opened))


async def test_lifecycle_connect_message_close(clients, agent_id) -> None:
    messages: list[Any] = []
    first = await clients(query={"name": "ann"}, on_message=messages.append)
    assert first.identity.agent == "tally" and first.identity.id == agent_id
    assert first.state == {"count": 0, "log": []} and first.identity.readonly is False
    await until(lambda: messages)
    assert json.loads(messages[0]) == {"welcome": "ann"}
    await first.send("hello")
    await first.send(b"\x01\x02\x03")
    await until(lambda: len(messages) == 2)
    assert messages[1] == b"\x03\x02\x01"
    tally = get_agent(Tally, agent_id)
    assert (await tally.conn_info())[first.conn_id]["messages"] == 1
    await first.close()
    await until_async(lambda: tally.conn_info(), lambda info: first.conn_id not in info)


async def until_async(fetch: Callable[[], Any], check: Callable[[Any], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check(await fetch()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_failing_on_message_rolls_back_and_reports_an_error_frame(served, agent_id) -> None:
    async with websockets.connect(ws_url(served, "tally", agent_id, "conn=c1")) as ws:
        await frames(ws, "state")
        await ws.send("boom")
        error = await frames(ws, "error")
        assert error["code"] == "exception" and "boom requested" in error["message"]
        info = await get_agent(Tally, agent_id).conn_info()
        assert info["c1"]["messages"] == 0
        await ws.send("close-me")
        close = await frames(ws, "close")
        assert close == {"type": "close", "code": 4001, "reason": "asked to close"}
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 30)
        assert closed.value.rcvd.code == 4001


async def test_state_syncs_to_three_clients_and_skips_the_client_that_set_it(clients, agent_id) -> None:
    seen: list[list[Any]] = [[], [], []]
    a, b, c = [await clients(on_state=seen[i].append) for i in range(3)]
    assert await a.call("add", 2) == 2
    await until(lambda: all(cl.state["count"] == 2 for cl in (a, b, c)))
    for i in range(5):
        await b.call("append", f"a fairly long log line number {i} " * 4)
    await until(lambda: all(len(cl.state["log"]) == 5 for cl in (a, b, c)))
    assert a.state == b.state == c.state == await get_agent(Tally, agent_id).get()
    before = len(seen[2])
    await c.set_state({"count": 100, "log": []})
    await until(lambda: a.state["count"] == 100 and b.state["count"] == 100)
    assert len(seen[2]) == before  # the sender already has it
    assert (await get_agent(Tally, agent_id).get())["count"] == 100


async def test_small_changes_travel_as_json_patches(served, agent_id) -> None:
    async with websockets.connect(ws_url(served, "tally", agent_id)) as ws:
        state = await frames(ws, "state")
        await get_agent(Tally, agent_id).append("x" * 500)
        assert (await frames(ws, "state"))["state"]["log"] == ["x" * 500]  # a patch would be longer
        await get_agent(Tally, agent_id).append("y")
        delta = await frames(ws, "state_patch")
        assert delta["patch"] == [{"op": "add", "path": "/log/-", "value": "y"}]
        assert delta["seq"] >= state["seq"] + 2


async def test_broadcast_reaches_everyone_but_the_excluded(clients) -> None:
    inbox: list[list[Any]] = [[], [], []]
    a, _, c = [await clients(query={"name": f"n{i}"}, on_message=inbox[i].append) for i in range(3)]
    await a.send("hi all")
    await until(lambda: "n0: hi all" in inbox[1] and "n0: hi all" in inbox[2])
    await c.call("add", 1)  # a later event, so a's inbox had time to get a (wrong) broadcast
    await until(lambda: a.state["count"] == 1)
    assert "n0: hi all" not in inbox[0]


async def test_streaming_call_and_cancellation_rolls_back(clients, agent_id) -> None:
    client = await clients()
    assert [i async for i in client.stream("ticks", 3)] == [0, 1, 2]
    assert (await client.call("get"))["count"] == 3
    items = client.stream("ticks", 1000, 0.02)
    assert [await items.__anext__(), await items.__anext__()] == [0, 1]
    await items.aclose()  # sends a cancel frame: the agent stops and rolls the turn back
    assert await asyncio.wait_for(client.call("add", 1), 30) == 4


async def test_rejected_and_readonly_connections(clients, served, agent_id) -> None:
    with pytest.raises(ConnectionRefusedByAgent, match="bad token") as refused:
        await clients(query={"token": "bad"})
    assert refused.value.status == 401
    viewer = await clients(query={"readonly": "1"})
    assert viewer.identity.readonly
    assert (await viewer.call("get"))["count"] == 0
    with pytest.raises(ReadOnlyError):
        await viewer.call("add", 1)
    async with websockets.connect(ws_url(served, "tally", agent_id, "readonly=1")) as ws:
        await frames(ws, "state")
        await ws.send(json.dumps({"type": "set_state", "state": {"count": 9, "log": []}}))
        assert (await frames(ws, "error"))["code"] == "read_only"
    assert (await get_agent(Tally, agent_id).get())["count"] == 0


async def test_malformed_and_oversized_frames_get_errors_and_everything_survives(served, agent_id) -> None:
    async with websockets.connect(ws_url(served, "tally", agent_id), max_size=None) as ws:
        await frames(ws, "state")
        await ws.send(json.dumps({"type": "rpc", "id": "", "method": "add"}))
        error = await frames(ws, "error")
        assert error["code"] == "malformed_frame" and error["id"] is None
        await ws.send(json.dumps({"type": "rpc", "id": "1", "method": "add", "args": "nope"}))
        assert (await frames(ws, "error")) | {"message": ""} == {
            "type": "error",
            "id": "1",  # the call fails: its caller does not wait for a reply
            "code": "malformed_frame",
            "message": "",
        }
        await ws.send(json.dumps({"type": "rpc", "id": "big", "method": "add", "args": ["x" * (70 * 1024)]}))
        error = await frames(ws, "error")
        assert (error["code"], error["id"]) == ("frame_too_large", "big")
        await ws.send("x" * (70 * 1024))
        assert (await frames(ws, "error"))["code"] == "frame_too_large"
        await ws.send(b"\0" * (70 * 1024))
        assert (await frames(ws, "error"))["code"] == "frame_too_large"
        await ws.send(json.dumps({"type": "rpc", "id": "2", "method": "add", "args": ["x"]}))
        assert (await frames(ws, "error"))["code"] == "invalid_arguments"
        await ws.send(json.dumps({"type": "rpc", "id": "3", "method": "add", "args": [1]}))
        assert (await frames(ws, "result")) == {"type": "result", "id": "3", "value": 1}
        await ws.send('{"a":' + "[" * 20_000 + "]" * 20_000 + "}")  # 40 KB nested past the decoder
        assert (await frames(ws, "error"))["code"] == "malformed_frame"
        await ws.send(json.dumps({"type": "rpc", "id": "4", "method": "add", "args": [1]}))
        assert (await frames(ws, "result")) == {"type": "result", "id": "4", "value": 2}  # the session lives
        await ws.send(json.dumps({"type": "hello", "protocol": 99}))
        assert (await frames(ws, "close"))["code"] == 4426


async def test_every_socket_that_ends_leaves_no_connection_record(served, agent_id) -> None:
    """Closed, reset without a close frame, or reset after a frame the parser refuses: each
    socket's record goes (`on_close` ran in the same turn)."""
    tally = get_agent(Tally, agent_id)
    ended = []
    for i in range(9):
        ws = await websockets.connect(ws_url(served, "tally", agent_id, f"conn=churn-{i}"))
        await frames(ws, "state")
        ended.append(f"churn-{i}")
        if i % 3 == 2:
            await ws.send('{"a":' + "[" * 20_000 + "]" * 20_000 + "}")
            await frames(ws, "error")
        if i % 3 == 0:
            await ws.close()
        else:
            ws.transport.abort()  # a TCP reset: no close frame
    await until_async(tally.conn_info, lambda info: not set(ended) & set(info))


async def test_an_open_connections_id_is_taken_over_only_with_its_resume_token(served, agent_id) -> None:
    """Another client naming a live connection's ID gets 4409, and the connection, its
    `conn.state` and its pushes stay its owner's; the owner's token takes it over (a reconnect
    that comes before the agent saw the old socket close), and the agent never sees the token."""
    tally = get_agent(Tally, agent_id)
    url = ws_url(served, "tally", agent_id, "conn=mine&name=owner")
    async with websockets.connect(url) as owner:
        identity = await frames(owner, "identity")
        assert len(identity["resume"]) >= 20
        await frames(owner, "state")
        await owner.send("hi")
        async with websockets.connect(ws_url(served, "tally", agent_id, "conn=mine&name=thief")) as thief:
            close = await frames(thief, "close")
        assert close["code"] == 4409 and "resume token" in close["reason"]
        assert (await tally.conn_info())["mine"]["name"] == "owner"
        await tally.add(1)
        assert (await frames(owner, "state"))["state"]["count"] == 1  # pushes still reach the owner
        resumed = ws_url(served, "tally", agent_id, f"conn=mine&resume={identity['resume']}")
        async with websockets.connect(resumed) as again:
            assert (await frames(again, "identity"))["resume"] == identity["resume"]
            assert (await frames(again, "state"))["state"]["count"] == 1
            info = await tally.conn_info()
            assert info["mine"]["name"] == "owner" and info["mine"]["messages"] == 1  # its conn.state
            assert "resume" not in json.dumps(info["mine"]["seen"])  # the agent never sees it


async def test_a_client_leaving_frames_unacked_is_closed_and_resyncs(clients, served, agent_id) -> None:
    """`ack` (protocol 2) bounds what a client can leave unread in the server: one that never
    acknowledges is closed with 1013 past max_unacked_bytes (4 MiB), while `AgentClient`, which
    acknowledges, takes 12 MB; the closed one reconnects to the whole state."""
    tally = get_agent(Tally, agent_id)
    shouts: list[Any] = []
    reader = await clients(on_message=shouts.append)
    big = "x" * 100_000
    async with websockets.connect(ws_url(served, "tally", agent_id, "conn=mute"), max_size=None) as mute:
        await frames(mute, "state")
        for batch in range(1, 13):
            await tally.shout(big, times=10)  # 1 MB to each client
            await until(lambda want=10 * batch: shouts.count(big) == want)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(mute.recv(), 30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    assert "not acknowledged" in closed.value.rcvd.reason
    await until_async(tally.conn_info, lambda info: "mute" not in info and reader.conn_id in info)
    await tally.add(4)
    again = await clients(conn_id="mute")
    assert again.state["count"] == 4 and reader.connects == 1


async def test_socket_survives_agent_sigkill_and_pushes_resume(clients, agent_id) -> None:
    client = await clients(query={"name": "kim"})
    await client.send("one")
    tally = get_agent(Tally, agent_id)
    pid = (await tally.describe())["pid"]
    os.kill(pid, signal.SIGKILL)
    assert await asyncio.wait_for(client.call("add", 5), 60) == 5  # re-created from its checkpoint
    assert (await tally.describe())["pid"] != pid
    await tally.add(1)  # a change made by someone else is pushed to the client
    await until(lambda: client.state["count"] == 6)
    assert client.connects == 1
    info = await tally.conn_info()
    assert info[client.conn_id]["messages"] == 1 and info[client.conn_id]["name"] == "kim"


async def test_a_stream_cut_by_sigkill_fails_with_a_one_line_error_frame(served, agent_id) -> None:
    pid = (await get_agent(DedicatedTally, agent_id).describe())["pid"]
    async with websockets.connect(ws_url(served, "dedicated-tally", agent_id)) as ws:
        await frames(ws, "state")
        await ws.send(json.dumps({"type": "rpc", "id": "t", "method": "ticks", "args": [1000, 0.05]}))
        await frames(ws, "chunk")
        os.kill(pid, signal.SIGKILL)
        error = await frames(ws, "error")
    assert (error["id"], error["code"]) == ("t", "agent_unavailable")
    key = agent_key(DedicatedTally.type_name, agent_id)
    assert error["message"] == f"{key}: its activation died during the stream of ticks; call it again"


async def test_socket_outlives_hibernation_and_pushes_resume_when_woken_elsewhere(clients, agent_id) -> None:
    client = await clients(agent="hibernating")
    key = agent_key("hibernating", agent_id)
    await until_async(list_agents, lambda d: key not in d["live"])  # idle_timeout hibernated it
    assert await get_agent(Hibernating, agent_id).add(3) == 3  # woken by a driver, not the client
    await until(lambda: client.state["count"] == 3)  # the replica noticed and re-subscribed
    await until_async(list_agents, lambda d: key not in d["live"])
    assert await client.call("add", 2) == 5  # a client message wakes it too
    await until(lambda: client.state["count"] == 5)
    assert client.connects == 1


async def test_two_replicas_share_state_sync_and_broadcast(clients, agent_id) -> None:
    tally = get_agent(Tally, agent_id)
    inboxes: list[list[Any]] = []
    opened: list[AgentClient] = []
    for i in range(12):
        inboxes.append([])
        opened.append(await clients(query={"name": f"p{i}"}, on_message=inboxes[i].append))
        replicas = {c["replica"] for c in (await tally.conn_info()).values()}
        if len(replicas) == 2 and i >= 2:
            break
    assert len(replicas) == 2, "Serve put every socket on one replica"
    await tally.add(7)
    await until(lambda: all(c.state["count"] == 7 for c in opened))
    await opened[0].send("across")
    await until(lambda: all("p0: across" in box for box in inboxes[1:]))


async def test_a_connection_outlives_the_agents_check_that_its_replica_lives(clients, agent_id) -> None:
    """The agent looks up the replica of its connections every LIVENESS_CHECK seconds: a live
    replica must be found (it is named in Serve's namespace, not the job's), so the socket is
    kept and still gets pushes. The wait is the point: the check runs on a clock."""
    client = await clients()
    await client.call("add", 1)
    await asyncio.sleep(LIVENESS_CHECK + 3)
    await get_agent(Tally, agent_id).add(2)
    await until(lambda: client.state["count"] == 3)
    assert client.conn_id in await get_agent(Tally, agent_id).conn_info()


async def test_the_connections_of_a_replica_that_died_are_closed_by_the_agent(served, agent_id) -> None:
    """SIGKILL the Serve replica holding a socket whose client does not come back: the agent's
    push stream finds the replica's actor gone (Ray does not end a stream whose caller died) and
    drops its connection records (with `on_close`) and the stream, instead of keeping them for
    ever. Last in this module: Serve replaces the replica while the other one serves."""
    from ray import serve

    tally = get_agent(Tally, agent_id)
    orphan = await websockets.connect(ws_url(served, "tally", agent_id, "conn=orphan"))
    await frames(orphan, "state")
    replica = (await tally.conn_info())["orphan"]["replica"]
    os.kill(int(replica.split("-")[0]), signal.SIGKILL)
    await until_async(tally.conn_info, lambda info: "orphan" not in info, timeout=60)
    await orphan.close()

    def both_replicas_running() -> bool:
        app = serve.status().applications["ray-agents"]
        return app.deployments["AgentIngress"].replica_states.get("RUNNING") == 2

    await until(both_replicas_running, timeout=120)
