"""The inspector (`build_app(inspector=True)`, serve/inspector.py): its API on real agents through
real Serve, its gate, and its page in headless Chromium."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from agents import get_agent
from cluster.config import RuntimeConfig
from tests.agents_for_inspector import INSPECTED, PooledBench, Quiet, Workbench
from tests.agents_for_serve import GATE_TOKEN, async_bearer_gate, bearer_gate
from tests.browser import Page, open_page
from tests.waiting import eventually

AUTH = {"authorization": f"Bearer {GATE_TOKEN}"}
WORKBENCH = Workbench.type_name
#: Where the browser test saves what it shows (unset: nowhere), to look at the page.
SCREENSHOTS = os.environ.get("RAY_AGENTS_SCREENSHOTS")


@pytest.fixture(scope="module")
def inspected_url(serve_url: str, file_store_url: str) -> Iterator[str]:
    """An app with the inspector on, behind the bearer-token gate, next to the session's app."""
    from ray import serve

    from serve.app import build_app

    app = build_app(
        INSPECTED,
        runtime=RuntimeConfig(namespace="t-serve", store_url=file_store_url),
        on_before_request=bearer_gate,
        on_before_connect=async_bearer_gate,
        inspector=True,
    )
    serve.run(app, name="inspected", route_prefix="/inspected")
    yield f"{serve_url}/inspected"
    serve.delete("inspected")


@pytest.fixture
async def client(inspected_url: str, served: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=inspected_url, headers=AUTH, timeout=60) as c:
        yield c


@pytest.fixture
async def workbench(agent_id: str, served: str) -> str:
    """A Workbench agent with a table, a schedule and a queue whose head waits to retry."""
    bench = get_agent(Workbench, agent_id)
    await bench.setup()
    await bench.add(2, label="bench")
    return agent_id


def node_address() -> str:
    """The address the (one) node of the test cluster is known by."""
    import ray

    return ray.util.get_node_ip_address()


async def detail(client: httpx.AsyncClient, agent_type: str, agent_id: str, **params: str) -> dict[str, Any]:
    response = await client.get(
        "/-/inspector/api/agent", params={"type": agent_type, "id": agent_id, **params}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def listed(client: httpx.AsyncClient, agent_type: str) -> dict[str, Any]:
    response = await client.get("/-/inspector/api/agents")
    assert response.status_code == 200, response.text
    return next(t for t in response.json()["types"] if t["type"] == agent_type)


async def test_agents_are_listed_by_type_live_and_hibernated(
    client: httpx.AsyncClient, workbench: str, agent_id: str
) -> None:
    quiet_id = f"{agent_id}-quiet"
    await get_agent(Quiet, quiet_id).touch()

    async def quiet_hibernated() -> bool:
        return any(a["id"] == quiet_id for a in (await listed(client, Quiet.type_name))["hibernated"])

    await eventually(quiet_hibernated)  # idle_timeout 0.5 s
    bench = await listed(client, WORKBENCH)
    [live] = [a for a in bench["live"] if a["id"] == workbench]
    assert live["epoch"] >= 1 and live["node"] == node_address() and live["node_id"]
    assert "host" in live  # None: a dedicated host of its own
    assert bench["served"] and bench["counts"]["live"] >= 1
    quiet = await listed(client, Quiet.type_name)
    assert quiet_id not in {a["id"] for a in quiet["live"]}


async def test_detail_shows_state_tables_schedules_queue_and_connections(
    client: httpx.AsyncClient, inspected_url: str, workbench: str
) -> None:
    socket_url = inspected_url.replace("http", "ws", 1) + f"/agents/{WORKBENCH}/{workbench}"
    async with websockets.connect(f"{socket_url}?token={GATE_TOKEN}&name=alice") as ws:
        await ws.recv()  # the full state: connected

        async def head_failed_once() -> bool:
            found = await detail(client, WORKBENCH, workbench)
            return bool(found["queue"]) and found["queue"][0]["attempts"] >= 1

        await eventually(head_failed_once)
        found = await detail(client, WORKBENCH, workbench)
    assert found["live"] and found["state"] == {"count": 2, "label": "bench"}
    assert found["node"] == node_address() and found["pid"] > 0 and found["checkpoints"] >= 1
    [notes] = [t for t in found["tables"] if t["name"] == "notes"]
    assert notes["rows"] == 2 and not notes["internal"]
    assert [c["name"] for c in notes["columns"]] == ["id", "text", "stars"]
    assert {t["name"] for t in found["tables"] if t["internal"]} >= {"_ra_schedules", "_ra_queue"}
    [reminder] = found["schedules"]
    assert reminder["method"] == "remind" and reminder["payload"] == {"about": "notes"}
    assert reminder["kind"] == "delayed" and reminder["next_run"] > found["at"] + 3000
    assert [(q["method"], q["payload"]) for q in found["queue"]] == [
        ("deliver", {"to": "ops"}),
        ("deliver", {"to": "dev"}),
    ]
    assert found["queue"][1]["attempts"] == 0  # behind the head, it waits
    [conn] = found["connections"]
    assert conn["state"] == {"name": "alice"} and conn["readonly"] is False and conn["replica"]
    assert "resume" not in conn


async def test_a_pooled_agent_is_shown_on_its_host(client: httpx.AsyncClient, agent_id: str) -> None:
    await get_agent(PooledBench, agent_id).setup()
    found = await detail(client, PooledBench.type_name, agent_id)
    assert found["hosting"] == "pooled" and found["host"].startswith("ray-agents-host")
    assert [t["rows"] for t in found["tables"] if t["name"] == "notes"] == [2]
    response = (await client.get("/-/inspector/api/agents")).json()
    entry = next(t for t in response["types"] if t["type"] == PooledBench.type_name)
    [live] = [a for a in entry["live"] if a["id"] == agent_id]
    assert live["host"] == found["host"] and live["host"] in response["hosts"]


async def test_a_query_reads_rows_and_a_write_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, workbench: str
) -> None:
    params = {"type": WORKBENCH, "id": workbench}
    read = await client.post(
        "/-/inspector/api/query",
        params=params,
        json={"sql": "SELECT text, stars FROM notes ORDER BY id", "limit": 1},
    )
    assert read.status_code == 200, read.text
    assert read.json() == {"columns": ["text", "stars"], "rows": [["first", 4.5]], "truncated": True}
    for write in (
        "DELETE FROM notes",
        "UPDATE notes SET text = 'x'",
        "DROP TABLE notes",
        "PRAGMA user_version = 7",
    ):
        refused = await client.post("/-/inspector/api/query", params=params, json={"sql": write})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "read_only", refused.text
    bad = await client.post("/-/inspector/api/query", params=params, json={"sql": "SELEC 1"})
    assert bad.status_code == 422 and "syntax error" in bad.json()["error"]["message"]
    assert await get_agent(Workbench, workbench).notes() == ["first", "second"]
    version = await client.post(
        "/-/inspector/api/query", params=params, json={"sql": "PRAGMA table_info(notes)"}
    )
    assert version.status_code == 200 and len(version.json()["rows"]) == 3


async def test_a_hibernated_agent_is_woken_only_when_asked(client: httpx.AsyncClient, agent_id: str) -> None:
    await get_agent(Quiet, agent_id).touch()

    async def hibernated() -> bool:
        return not (await detail(client, Quiet.type_name, agent_id))["live"]

    await eventually(hibernated)
    for _ in range(3):  # looking at it (detail, events, a query) leaves it asleep
        assert (await detail(client, Quiet.type_name, agent_id))["live"] is False
        events = await client.get("/-/inspector/api/events", params={"type": Quiet.type_name, "id": agent_id})
        assert events.json()["live"] is False
        query = {"type": Quiet.type_name, "id": agent_id}
        refused = await client.post("/-/inspector/api/query", params=query, json={"sql": "SELECT 1"})
        assert refused.status_code == 503, refused.text
    quiet = await listed(client, Quiet.type_name)
    assert agent_id in {a["id"] for a in quiet["hibernated"]}
    woken = await detail(client, Quiet.type_name, agent_id, wake="1")
    assert woken["live"] is True and woken["state"] == {"touches": 1}


async def test_classes_list_callables_with_their_parameters(client: httpx.AsyncClient) -> None:
    classes = (await client.get("/-/inspector/api/classes")).json()["classes"]
    bench = next(c for c in classes if c["type"] == WORKBENCH)
    add = next(m for m in bench["methods"] if m["name"] == "add")
    assert add["schema"]["properties"]["n"] == {"type": "integer", "default": 1}
    assert add["doc"].startswith("Add `n`") and not add["readonly"]
    assert next(m for m in bench["methods"] if m["name"] == "notes")["readonly"]
    assert "remind" not in {m["name"] for m in bench["methods"]}  # not @callable


async def test_the_inspector_is_off_unless_asked(served: str) -> None:
    async with httpx.AsyncClient(base_url=served, timeout=60) as plain:
        for path in ("/-/inspector", "/-/inspector/api/agents", "/static/inspector.js"):
            assert (await plain.get(path)).status_code == 404, path


async def test_the_gate_guards_every_inspector_route(inspected_url: str, served: str, agent_id: str) -> None:
    agent = {"type": WORKBENCH, "id": agent_id}
    routes = [
        ("GET", "/-/inspector", {}),
        ("GET", "/-/inspector/api/agents", {}),
        ("GET", "/-/inspector/api/classes", {}),
        ("GET", "/-/inspector/api/agent", {**agent, "wake": "1"}),
        ("POST", "/-/inspector/api/query", agent),
        ("GET", "/-/inspector/api/events", agent),
    ]
    async with httpx.AsyncClient(base_url=inspected_url, timeout=60) as anonymous:
        for method, path, params in routes:
            refused = await anonymous.request(method, path, params=params, json={"sql": "SELECT 1"})
            assert refused.status_code == 401, (path, refused.text)
            teapot = await anonymous.request(method, path, params={**params, "token": "teapot"})
            assert teapot.status_code == 418 and teapot.text == "short and stout"
        assert (await anonymous.get("/-/inspector", params={"token": GATE_TOKEN})).status_code == 200
    assert (await listed_ids(inspected_url, WORKBENCH)).isdisjoint({agent_id})  # never woken nor created


async def listed_ids(base: str, agent_type: str) -> set[str]:
    async with httpx.AsyncClient(base_url=base, headers=AUTH, timeout=60) as c:
        found = await listed(c, agent_type)
    return {a["id"] for a in found["live"] + found["hibernated"]}


# ---- the page --------------------------------------------------------------------------------


@pytest.fixture
async def page(inspected_url: str, workbench: str, tmp_path: Path) -> AsyncIterator[Page]:
    async with open_page(f"{inspected_url}/-/inspector?token={GATE_TOKEN}", tmp_path) as p:
        await p.resize(1280, 800)
        yield p


def agent_button(agent_id: str) -> str:
    return f"document.querySelector('.agent[data-id=\"{agent_id}\"]')"


async def shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        await page.screenshot(Path(SCREENSHOTS) / f"inspector-{name}.png")


async def test_the_page_shows_an_agent_and_a_call_from_its_form_streams_an_rpc_event(
    page: Page, workbench: str
) -> None:
    button = agent_button(workbench)
    await page.wait_for(f"{button}?.dataset.live", "true")
    await shot(page, "list")
    await page.evaluate(f"{button}.click()")
    await page.wait_for("JSON.parse(document.getElementById('state')?.textContent || 'null')?.count", 2)
    await page.wait_for("document.querySelectorAll('#events .event').length > 0", True)  # the backlog
    await shot(page, "state")
    rpc_before = await page.evaluate("document.querySelectorAll('#events .event[data-name=\"rpc\"]').length")

    await page.evaluate("document.querySelector('.tab[data-tab=\"call\"]').click()")
    await page.wait_for("!!document.querySelector('.method[data-method=\"add\"]')", True)
    await page.evaluate("document.querySelector('.method[data-method=\"add\"]').click()")
    await page.wait_for("document.getElementById('arg-n')?.value", "1")
    await page.evaluate(
        "document.getElementById('arg-n').value = '5';"
        "document.getElementById('arg-label').value = 'from the page';"
        "document.getElementById('call').click()"
    )
    await page.wait_for("document.querySelector('#call-results .json')?.textContent", "7")
    assert (await get_agent(Workbench, workbench).add(0)) == 7  # the call reached the agent
    await page.wait_for(
        "document.querySelectorAll('#events .event[data-name=\"rpc\"]').length > " + str(rpc_before), True
    )
    newest_rpc = "document.querySelector('#events .event[data-name=\"rpc\"] .facts-line').textContent"
    assert "method=add" in await page.evaluate(newest_rpc)
    await shot(page, "call")

    await page.evaluate("document.querySelector('.tab[data-tab=\"state\"]').click()")
    await page.wait_for("JSON.parse(document.getElementById('state').textContent).label", "from the page")
    await page.evaluate("document.querySelector('.tab[data-tab=\"sql\"]').click()")
    await page.evaluate("document.querySelector('.table-card').click()")  # notes: SELECT * ... LIMIT 100
    await page.wait_for("document.getElementById('query-note')?.textContent", "2 rows")
    await shot(page, "sql")
    await page.evaluate("document.querySelector('.tab[data-tab=\"queue\"]').click()")
    await page.wait_for("document.querySelectorAll('#tab-queue tbody tr').length", 2)
    await shot(page, "queue")


async def test_the_page_fits_a_phone(page: Page, workbench: str) -> None:
    await page.resize(390, 844, mobile=True)
    button = agent_button(workbench)
    await page.wait_for(f"{button}?.dataset.live", "true")
    await shot(page, "phone-list")
    await page.evaluate(f"{button}.click()")
    await page.wait_for("JSON.parse(document.getElementById('state')?.textContent || 'null')?.count", 2)
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert await page.evaluate("getComputedStyle(document.querySelector('.sidebar')).display") == "none"
    await shot(page, "phone-agent")
    await page.evaluate("document.getElementById('back').click()")
    await page.wait_for("getComputedStyle(document.querySelector('.sidebar')).display", "block")


async def test_a_hibernated_agent_wakes_on_its_button_only(page: Page, agent_id: str) -> None:
    quiet_id = f"{agent_id}-quiet"
    await get_agent(Quiet, quiet_id).touch()
    button = agent_button(quiet_id)
    await page.wait_for(f"{button}?.dataset.live", "false")  # hibernated after 0.5 s idle
    await page.evaluate(f"{button}.click()")
    await page.wait_for("!!document.getElementById('wake')", True)
    await shot(page, "hibernated")
    assert await page.evaluate(f"{button}.dataset.live") == "false"  # opening it woke nothing
    await page.evaluate("document.getElementById('wake').click()")
    await page.wait_for("JSON.parse(document.getElementById('state')?.textContent || 'null')?.touches", 1)
