"""Reordering the complaint category rules (`PUT /v1/category-rules/order`) on the real
complaints service and PostgreSQL. Before it the console renumbered the list with one PATCH a
rule (93 of the 94 seeded rules on the first move), so new complaints were classified by a
half-renumbered list, a request dying midway left it scrambled, and two people moving rules
interleaved their PATCHes. Now the whole order is one transaction made from a list `version`:
a list changed meanwhile is a 409."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.services import RunningService

ORDER = "/v1/category-rules/order"


@pytest.fixture(scope="module")
def complaints(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    service = RunningService(stack_config, "complaints").start()
    service.wait_ready()
    yield service
    service.stop()


@pytest.fixture
async def http(
    complaints: RunningService, stack_env: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client as a supervisor; the rules' positions put back after the test."""
    headers = {"Authorization": f"Bearer {stack_env['TOKEN_SUPERVISOR']}"}
    async with httpx.AsyncClient(base_url=complaints.url, headers=headers, timeout=10) as client:
        positions = {r["id"]: r["position"] for r in (await _listed(client))["rules"]}
        yield client
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:
        await conn.executemany(
            "UPDATE complaints.category_rules SET position = $2 WHERE id = $1",
            list(positions.items()),
        )
    finally:
        await conn.close()


async def _listed(http: httpx.AsyncClient) -> dict[str, Any]:
    resp = await http.get("/v1/category-rules")
    resp.raise_for_status()
    return dict(resp.json())


def _ids(listed: dict[str, Any]) -> list[int]:
    return [r["id"] for r in listed["rules"]]


def _first(ids: list[int], rule_id: int) -> list[int]:
    return [rule_id, *(i for i in ids if i != rule_id)]


async def _verdict(http: httpx.AsyncClient, text: str) -> str:
    resp = await http.post("/v1/classify", json={"text": text})
    resp.raise_for_status()
    return str(resp.json()["category"])


async def test_a_new_order_is_applied_whole_and_classifies_by_it(http: httpx.AsyncClient) -> None:
    listed = await _listed(http)
    ct = next(r for r in listed["rules"] if r["keyword"] == "CT")
    assert await _verdict(http, "误诊了，还让我做了CT") == "medical_quality"
    resp = await http.put(
        ORDER, json={"ids": _first(_ids(listed), ct["id"]), "version": listed["version"]}
    )
    assert resp.status_code == 200, resp.text
    now = await _listed(http)
    assert _ids(now) == _first(_ids(listed), ct["id"]) == _ids(resp.json())
    assert [r["position"] for r in now["rules"]] == [10 * (n + 1) for n in range(len(now["rules"]))]
    assert now["version"] == resp.json()["version"] != listed["version"]
    assert await _verdict(http, "误诊了，还让我做了CT") == ct["category"]


async def test_an_order_made_from_a_list_changed_meanwhile_is_refused_and_nothing_moves(
    http: httpx.AsyncClient,
) -> None:
    listed = await _listed(http)
    last = listed["rules"][-1]
    patched = await http.patch(f"/v1/category-rules/{last['id']}", json={"note": "同事改过"})
    assert patched.status_code == 200, patched.text
    before = await _listed(http)
    resp = await http.put(
        ORDER, json={"ids": _first(_ids(listed), last["id"]), "version": listed["version"]}
    )
    assert resp.status_code == 409, resp.text
    assert "read them again" in resp.text
    assert await _listed(http) == before
    await http.patch(f"/v1/category-rules/{last['id']}", json={"note": last["note"]})


async def test_two_people_moving_rules_from_the_same_list_one_is_refused(
    http: httpx.AsyncClient,
) -> None:
    listed = await _listed(http)
    ids = _ids(listed)
    orders = (_first(ids, ids[-1]), _first(ids, ids[-2]))
    answers = await asyncio.gather(
        *(http.put(ORDER, json={"ids": o, "version": listed["version"]}) for o in orders)
    )
    assert sorted(a.status_code for a in answers) == [200, 409]
    won = next(o for o, a in zip(orders, answers, strict=True) if a.status_code == 200)
    assert _ids(await _listed(http)) == won


async def test_an_order_that_leaves_out_a_rule_is_refused(http: httpx.AsyncClient) -> None:
    listed = await _listed(http)
    resp = await http.put(ORDER, json={"ids": _ids(listed)[1:], "version": listed["version"]})
    assert resp.status_code == 422 and "ids" in resp.text
    assert await _listed(http) == listed
