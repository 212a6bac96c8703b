"""What the staff console's complaint desk needs of the complaints service, on the real stack
(the service as a process on PostgreSQL and Kafka): a note in the case's written record, the
queue's filters on open cases and on time limits past their warning or due time, and the
team's workload per handler, each within the caller's department."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.integration.services import RunningService, running
from tests.paging import every_item

SUP = {"Authorization": "Bearer dev-supervisor-token"}  # S-SUP-01, CS
WARD = {"Authorization": "Bearer dev-ward-supervisor-token"}  # S-SUP-02, CARD
AGENT = {"Authorization": "Bearer dev-agent-token"}  # S-AGENT-01, CS
ADMIN = {"Authorization": "Bearer dev-admin-token"}


@pytest.fixture(scope="module")
def complaints(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "complaints", {}) as service:
        yield service


@pytest.fixture(scope="module")
async def http(complaints: RunningService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=complaints.url, timeout=10) as client:
        yield client


async def open_case(http: httpx.AsyncClient, *, hours_ago: float, dept: str = "CS") -> str:
    """A case lodged `hours_ago` hours ago: its 24-hour first response runs from then."""
    submitted = datetime.now(UTC) - timedelta(hours=hours_ago)
    body = {
        "channel": "phone",
        "description": "候诊时间太长，没有人解释",
        "category": "waiting_time",
        "patient": {"patient_id": f"P-{uuid.uuid4().hex[:8]}", "name": "王五"},
        "department": {"code": dept},
        "submitted_at": submitted.isoformat(),
    }
    r = await http.post("/v1/cases", json=body, headers=SUP)
    assert r.status_code == 201, r.text
    return str(r.json()["case_number"])


async def numbers(http: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> set[str]:
    url = str(httpx.URL("/v1/cases", params={"limit": 200, **params}))
    return {c["case_number"] for c in await every_item(http, url, headers)}


async def test_a_complainant_without_a_patient_id_needs_both_name_and_phone(
    http: httpx.AsyncClient,
) -> None:
    """The event contract's rule (a `Complainant`) at the desk's door: a name alone or a phone
    alone was taken (201), and the complaint was refused later where it met the contract. Now
    a 422 naming the missing field; a patient by id still needs neither."""
    body = {"channel": "onsite", "description": "缴费窗口多收了费用", "department": {"code": "CS"}}
    praise = {"kind": "praise", "text": "护士很耐心", "department": {"code": "CS"}}
    refused = [
        ("/v1/cases", body | {"patient": {"phone": "13900139000"}}, "name"),
        ("/v1/cases", body | {"patient": {"name": "陈静"}}, "phone"),
        ("/v1/feedback", praise | {"patient": {"name": "陈静"}}, "phone"),
    ]
    for path, sent, missing in refused:
        r = await http.post(path, json=sent, headers=SUP)
        assert r.status_code == 422, (path, r.text)
        assert [e["location"] for e in r.json()["errors"]] == [["body", "patient", missing]]
    by_id = body | {"patient": {"patient_id": f"P-{uuid.uuid4().hex[:8]}"}}
    assert (await http.post("/v1/cases", json=by_id, headers=SUP)).status_code == 201


async def test_a_note_is_written_to_the_cases_record_and_keeps_its_status(
    http: httpx.AsyncClient,
) -> None:
    number = await open_case(http, hours_ago=0)
    r = await http.post(
        f"/v1/cases/{number}/notes", json={"note": "已电话联系患者，约定明天回复"}, headers=SUP
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "received"
    audit = (await http.get(f"/v1/cases/{number}/audit", headers=SUP)).json()["audit"]
    note = audit[-1]
    assert (note["action"], note["actor_id"], note["detail"]["note"]) == (
        "note_added", "S-SUP-01", "已电话联系患者，约定明天回复",
    )  # fmt: skip
    assert note["from_status"] == note["to_status"] == "received"


async def test_a_note_is_refused_to_whoever_does_not_work_the_case(
    http: httpx.AsyncClient,
) -> None:
    number = await open_case(http, hours_ago=0)
    for headers, expected in ((WARD, 403), (ADMIN, 403)):
        r = await http.post(f"/v1/cases/{number}/notes", json={"note": "x"}, headers=headers)
        assert r.status_code == expected, r.text
    r = await http.post(f"/v1/cases/{number}/notes", json={"note": ""}, headers=SUP)
    assert r.status_code == 422
    assert r.json()["errors"][0]["location"] == ["body", "note"]


async def test_the_queue_filters_open_cases_and_limits_past_warning_or_due(
    http: httpx.AsyncClient,
) -> None:
    fresh = await open_case(http, hours_ago=1)
    warned = await open_case(http, hours_ago=20)  # 20 h of 24: past the 80% warning
    breached = await open_case(http, hours_ago=30)
    closed = await open_case(http, hours_ago=30)
    r = await http.post(
        f"/v1/cases/{closed}/transitions", json={"to": "withdrawn", "note": "lodged in error"},
        headers=SUP,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    ours = {fresh, warned, breached, closed}
    assert ours & await numbers(http, SUP, time_limit="warning") == {warned}
    assert ours & await numbers(http, SUP, time_limit="breached") == {breached}
    assert ours & await numbers(http, SUP, open="true") == {fresh, warned, breached}
    assert ours & await numbers(http, SUP, open="false") == {closed}
    # Acknowledging meets the first response: the case is no longer past anything.
    r = await http.post(
        f"/v1/cases/{breached}/transitions", json={"to": "acknowledged"}, headers=SUP
    )
    assert r.status_code == 200, r.text
    assert breached not in await numbers(http, SUP, time_limit="breached")
    r = await http.get("/v1/cases", params={"time_limit": "late"}, headers=SUP)
    assert r.status_code == 422
    assert r.json()["errors"][0]["location"] == ["query", "time_limit"]


async def test_workload_counts_each_handlers_open_cases_within_the_supervisors_department(
    http: httpx.AsyncClient,
) -> None:
    dept = f"W{uuid.uuid4().hex[:6].upper()}"  # nobody on the roster: the desk handles it
    before = await workload(http, SUP)
    await open_case(http, hours_ago=1, dept=dept)
    await open_case(http, hours_ago=20, dept=dept)
    await open_case(http, hours_ago=30, dept=dept)
    after = await workload(http, SUP)
    grew = {
        who: tuple(a - b for a, b in zip(counts, before.get(who, (0, 0, 0)), strict=True))
        for who, counts in after.items()
    }
    assert sum(g[0] for g in grew.values()) == 3
    assert sum(g[1] for g in grew.values()) == 1  # warning
    assert sum(g[2] for g in grew.values()) == 1  # breached
    r = await http.get("/v1/case-workload", params={"department": "CS"}, headers=WARD)
    assert r.status_code == 403
    r = await http.get("/v1/case-workload", headers=WARD)
    assert r.status_code == 200 and r.json()["department"] == "CARD"
    r = await http.get("/v1/case-workload", headers=AGENT)
    assert r.status_code == 403


async def workload(http: httpx.AsyncClient, headers: dict[str, str]) -> dict[Any, tuple[int, ...]]:
    r = await http.get("/v1/case-workload", headers=headers)
    assert r.status_code == 200, r.text
    return {
        h["assignee_id"]: (h["open_cases"], h["warning"], h["breached"])
        for h in r.json()["handlers"]
    }


async def test_a_listed_case_shows_the_same_time_limits_as_the_case_itself(
    http: httpx.AsyncClient,
) -> None:
    """The list reads every listed case's limits in one statement: the same as one by one,
    a reopened case's earlier cycle included."""
    number = await open_case(http, hours_ago=20)
    for to in ("acknowledged", "withdrawn"):
        body = {"to": to, "note": "lodged twice"}
        assert (
            await http.post(f"/v1/cases/{number}/transitions", json=body, headers=SUP)
        ).is_success
    other = await open_case(http, hours_ago=30)
    listed = {c["case_number"]: c for c in await every_item(http, "/v1/cases?limit=200", SUP)}
    for n in (number, other):
        alone = (await http.get(f"/v1/cases/{n}", headers=SUP)).json()
        assert listed[n]["time_limits"] == alone["time_limits"] != []
        assert listed[n]["earlier_cycles"] == alone["earlier_cycles"]
    assert {t["state"] for t in listed[number]["time_limits"]} == {"met", "withdrawn"}
