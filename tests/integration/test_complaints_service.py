"""The complaints service as a real process on the real Kafka and PostgreSQL: complaints in
from Kafka and from the desk, the whole lifecycle through the API, every refused step, the
time limits on the case, reopening, classification, role-based access, retention, and the
time-limit timer firing exactly once with two instances running."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

import devstack
from hospital_shared import topics
from tests.factories import envelope, to_bytes
from tests.integration.services import RunningService
from tests.kafka_tools import eventually, json_values, publish, read_all

FAST_TIMERS = {"COMPLAINTS_TIMER_INTERVAL_S": "0.2"}
# The holiday test lodges on a fixed day of 2026: taken however long ago it lies by now.
OLDEST_SUBMISSION_DAYS = 3650
SERVICE_ENV = {**FAST_TIMERS, "COMPLAINTS_OLDEST_SUBMISSION_DAYS": str(OLDEST_SUBMISSION_DAYS)}


@pytest.fixture(scope="module")
def complaints(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    service = RunningService(stack_config, "complaints").start(**SERVICE_ENV)
    service.wait_ready()
    yield service
    service.stop()


@pytest.fixture(scope="module")
async def http(complaints: RunningService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=complaints.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def tokens(stack_env: dict[str, str]) -> dict[str, dict[str, str]]:
    roles = ("agent", "doctor", "supervisor", "admin", "integration")
    return {r: {"Authorization": f"Bearer {stack_env[f'TOKEN_{r.upper()}']}"} for r in roles}


def uid() -> str:
    return uuid.uuid4().hex[:10]


def complaint_event(**over: Any) -> dict[str, Any]:
    n = uid()
    data = {
        "external_id": f"HIS-{n}",
        "channel": "online",
        "patient": {"patient_id": f"P-{n}", "name": "张三", "phone": "13800138000"},
        "department": {"code": "CARD", "name": "心内科"},
        "description": "心内科医生态度很差，不耐烦",
        "submitted_at": datetime.now(UTC).isoformat(),
        **over,
    }
    return envelope("complaint.submitted", data, subject=data["external_id"])


async def open_at_desk(
    http: httpx.AsyncClient, token: dict[str, str], **over: Any
) -> dict[str, Any]:
    body = {
        "channel": "phone",
        "description": "候诊排队等了三个小时",
        "patient": {"patient_id": f"P-{uid()}", "name": "李四", "phone": "13900139000"},
        "department": {"code": "CS", "name": "客服中心"},
        **over,
    }
    response = await http.post("/v1/cases", json=body, headers=token)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def case_events(bootstrap: str, case_number: str) -> list[dict[str, Any]]:
    events = json_values(await read_all(bootstrap, topics.COMPLAINT_CASES))
    return [e for e in events if e.get("subject") == case_number]


async def db(dsn: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn, server_settings={"search_path": "complaints"})


# --- Kafka in -> case -> events out --------------------------------------------------------


async def test_a_complaint_from_kafka_becomes_a_classified_assigned_case(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    event = complaint_event()
    patient_id = event["data"]["patient"]["patient_id"]
    # Delivered twice (a producer retry): still one case.
    await publish(bootstrap, topics.COMPLAINTS_IN, [(patient_id, to_bytes(event))] * 2)

    async def listed() -> list[dict[str, Any]]:
        r = await http.get("/v1/cases", params={"patient_id": patient_id}, headers=tokens["doctor"])
        return r.json()["items"]  # type: ignore[no-any-return]

    [case] = await eventually(listed, timeout=30)
    assert case["case_number"].startswith("TS-" + datetime.now(UTC).astimezone().strftime("%Y"))
    assert (case["category"], case["classification"]["keyword"]) == ("staff_attitude", "态度")
    assert case["classification"]["source"] == "rule"
    assert (case["assignee_id"], case["handling_department"]) == ("S-DOC-01", "CARD")
    assert case["patient"]["phone"] == "+8613800138000"  # the handler sees it, in E.164
    assert case["opened_at"].endswith("Z") and case["time_limits"][0]["due_at"].endswith("Z")
    assert {t["limit"] for t in case["time_limits"]} == {"first_response", "fact_finding"}

    [opened] = await eventually(lambda: case_events(bootstrap, case["case_number"]), timeout=30)
    await consumed_up_to_here(http, tokens, bootstrap, patient_id)
    assert len(await case_events(bootstrap, case["case_number"])) == 1
    assert opened["type"] == "complaint.case_opened"
    # Once published, the event (with the patient's phone) is gone from complaints' outbox.
    conn = await db(stack_env["DATABASE_URL"])
    try:
        left = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE convert_from(payload, 'UTF8') LIKE $1",
            f"%{case['case_number']}%",
        )
    finally:
        await conn.close()
    assert left == 0
    data = opened["data"]
    assert data["patient"] == {
        "patient_id": patient_id,
        "phone": "13800138000",
        "sms_opt_out": False,
    }
    assert data["promised_response_by"] is not None
    assert (data["channel"], data["category"], data["priority"]) == (
        "online",
        "staff_attitude",
        "normal",
    )
    assert "description" not in data and "name" not in str(data["patient"])


async def test_a_follow_up_objection_about_malpractice_goes_to_a_supervisor_at_once(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    event = complaint_event(channel="followup", description="家属认为是医疗事故，要求调查")
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        topics.COMPLAINTS_IN,
        [(event["subject"], to_bytes(event))],
    )

    async def listed() -> list[dict[str, Any]]:
        r = await http.get(
            "/v1/cases",
            params={"patient_id": event["data"]["patient"]["patient_id"]},
            headers=tokens["supervisor"],
        )
        return r.json()["items"]  # type: ignore[no-any-return]

    [case] = await eventually(listed, timeout=30)
    assert case["channel"] == "followup"
    assert (case["category"], case["serious"], case["priority"]) == (
        "medical_quality",
        True,
        "urgent",
    )
    assert case["classification"]["serious_keyword"] == "医疗事故"
    assert case["assignee_id"] == case["supervisor_id"] == "S-SUP-01"
    assert "complex_answer" in {t["limit"] for t in case["time_limits"]}


# --- the lifecycle through the API --------------------------------------------------------

PATH_TO: dict[str, list[str]] = {
    "received": [],
    "acknowledged": ["acknowledged"],
    "investigating": ["acknowledged", "investigating"],
    "resolution_proposed": ["acknowledged", "investigating", "resolution_proposed"],
    "resolution_approved": [
        "acknowledged",
        "investigating",
        "resolution_proposed",
        "resolution_approved",
    ],
    "communicated": [
        "acknowledged",
        "investigating",
        "resolution_proposed",
        "resolution_approved",
        "resolution_implemented",
        "communicated",
    ],
    "closed": [
        "acknowledged",
        "investigating",
        "resolution_proposed",
        "resolution_approved",
        "resolution_implemented",
        "communicated",
        "summary_signed_off",
        "closed",
    ],
    "reopened": [
        "acknowledged",
        "investigating",
        "resolution_proposed",
        "resolution_approved",
        "resolution_implemented",
        "communicated",
        "summary_signed_off",
        "closed",
        "reopened",
    ],
    "withdrawn": ["withdrawn"],
    "unfounded": ["acknowledged", "investigating", "unfounded"],
    "resolution_implemented": [
        "acknowledged",
        "investigating",
        "resolution_proposed",
        "resolution_approved",
        "resolution_implemented",
    ],
    "summary_signed_off": [
        "acknowledged",
        "investigating",
        "resolution_proposed",
        "resolution_approved",
        "resolution_implemented",
        "communicated",
        "summary_signed_off",
    ],
}
ALLOWED: dict[str, set[str]] = {
    "received": {"acknowledged", "withdrawn"},
    "acknowledged": {"investigating", "withdrawn"},
    "investigating": {"resolution_proposed", "unfounded", "withdrawn"},
    "resolution_proposed": {"resolution_approved", "investigating", "withdrawn"},
    "resolution_approved": {"resolution_implemented"},
    "resolution_implemented": {"communicated"},
    "communicated": {"summary_signed_off", "reopened"},
    "summary_signed_off": {"closed", "reopened"},
    "closed": {"reopened"},
    "reopened": {"acknowledged", "withdrawn"},
    "unfounded": {"closed", "investigating"},
    "withdrawn": set(),
}


async def move(
    http: httpx.AsyncClient, number: str, to: str, token: dict[str, str]
) -> httpx.Response:
    body: dict[str, Any] = {"to": to, "note": f"step to {to}"}
    if to == "resolution_proposed":
        body |= {"resolution": "退还多收费用并致歉", "resolution_kind": "refund"}
    return await http.post(f"/v1/cases/{number}/transitions", json=body, headers=token)


async def case_in(http: httpx.AsyncClient, tokens: dict[str, Any], state: str) -> str:
    case = await open_at_desk(http, tokens["agent"])
    for step in PATH_TO[state]:
        # Four eyes: the handler proposes, the supervisor approves.
        who = "agent" if step == "resolution_proposed" else "supervisor"
        r = await move(http, case["case_number"], step, tokens[who])
        assert r.status_code == 200, r.text
    return case["case_number"]  # type: ignore[no-any-return]


async def test_every_allowed_step_works_and_every_other_is_refused_with_409(
    complaints, http, tokens
) -> None:  # type: ignore[no-untyped-def]
    statuses = list(ALLOWED)
    for state in statuses:
        number = await case_in(http, tokens, state)
        for target in statuses:
            if target in ALLOWED[state]:
                continue
            r = await move(http, number, target, tokens["supervisor"])
            assert r.status_code == 409, (state, target, r.text)
            assert set(r.json()["allowed_next"]) == ALLOWED[state]
        for target in sorted(ALLOWED[state]):
            fresh = await case_in(http, tokens, state)
            r = await move(http, fresh, target, tokens["supervisor"])
            assert r.status_code == 200, (state, target, r.text)
            assert r.json()["status"] == target


async def test_a_desk_complaint_walks_the_whole_lifecycle_with_an_audit_trail(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    case = await open_at_desk(http, tokens["agent"])
    number = case["case_number"]
    assert (case["assignee_id"], case["supervisor_id"]) == ("S-AGENT-01", "S-SUP-01")
    assert case["category"] == "waiting_time" and case["status"] == "received"
    for step in ("acknowledged", "investigating", "resolution_proposed"):
        assert (await move(http, number, step, tokens["agent"])).status_code == 200
    refused = await move(http, number, "resolution_approved", tokens["agent"])
    assert refused.status_code == 403 and "supervisor" in refused.text
    assert (
        await move(http, number, "resolution_approved", tokens["supervisor"])
    ).status_code == 200
    for step in ("resolution_implemented", "communicated"):
        assert (await move(http, number, step, tokens["agent"])).status_code == 200
    assert (await move(http, number, "summary_signed_off", tokens["supervisor"])).status_code == 200
    assert (await move(http, number, "closed", tokens["agent"])).status_code == 200
    closed = (await http.get(f"/v1/cases/{number}", headers=tokens["agent"])).json()
    assert closed["satisfaction_check"]["due_at"] is not None  # planned on closing
    limits = {t["limit"]: t["state"] for t in closed["time_limits"]}
    assert limits == {
        "first_response": "met",
        "fact_finding": "met",
        "satisfaction_check": "running",
    }

    audit = (await http.get(f"/v1/cases/{number}/audit", headers=tokens["agent"])).json()["audit"]
    steps = [(a["from_status"], a["to_status"], a["actor_id"]) for a in audit]
    assert steps == [
        (None, "received", "S-AGENT-01"),
        ("received", "acknowledged", "S-AGENT-01"),
        ("acknowledged", "investigating", "S-AGENT-01"),
        ("investigating", "resolution_proposed", "S-AGENT-01"),
        ("resolution_proposed", "resolution_approved", "S-SUP-01"),
        ("resolution_approved", "resolution_implemented", "S-AGENT-01"),
        ("resolution_implemented", "communicated", "S-AGENT-01"),
        ("communicated", "summary_signed_off", "S-SUP-01"),
        ("summary_signed_off", "closed", "S-AGENT-01"),
    ]
    conn = await db(stack_env["DATABASE_URL"])
    try:
        for sql in ("UPDATE case_audit SET actor_id = 'x'", "DELETE FROM case_audit"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(sql)
    finally:
        await conn.close()

    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    expected = [
        "complaint.case_opened",
        "complaint.case_acknowledged",
        "complaint.case_investigation_started",
        "complaint.case_resolution_proposed",
        "complaint.case_resolution_approved",
        "complaint.case_resolution_implemented",
        "complaint.case_communicated",
        "complaint.case_summary_signed_off",
        "complaint.case_closed",
    ]

    async def all_out() -> list[dict[str, Any]] | None:
        found = await case_events(bootstrap, number)
        return found if len(found) >= len(expected) else None

    events = await eventually(all_out, timeout=30)
    assert [e["type"] for e in events] == expected
    assert events[-1]["data"]["satisfaction_check_due_at"] is not None
    assert events[3]["data"]["resolution_kind"] == "refund"


async def test_a_dissatisfied_answer_reopens_the_case_with_new_limits(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    number = await case_in(http, tokens, "closed")
    too_early = await case_in(http, tokens, "communicated")
    r = await http.post(
        f"/v1/cases/{too_early}/satisfaction", json={"rating": "satisfied"}, headers=tokens["agent"]
    )
    assert r.status_code == 409

    r = await http.post(
        f"/v1/cases/{number}/satisfaction",
        json={"rating": "dissatisfied", "comment": "退费金额不对"},
        headers=tokens["agent"],
    )
    assert r.status_code == 200, r.text
    reopened = r.json()
    assert (reopened["status"], reopened["cycle"]) == ("reopened", 2)
    assert {t["limit"]: t["state"] for t in reopened["time_limits"]} == {
        "first_response": "running",
        "fact_finding": "running",
    }
    started = datetime.fromisoformat(reopened["time_limits"][0]["starts_at"])
    assert datetime.now(UTC) - started < timedelta(minutes=1)  # new clocks from the reopening
    assert {t["state"] for t in reopened["earlier_cycles"]} == {"met"}

    satisfied = await case_in(http, tokens, "closed")
    r = await http.post(
        f"/v1/cases/{satisfied}/satisfaction", json={"rating": "satisfied"}, headers=tokens["agent"]
    )
    assert r.json()["status"] == "closed"
    again = await http.post(
        f"/v1/cases/{satisfied}/satisfaction", json={"rating": "satisfied"}, headers=tokens["agent"]
    )
    assert again.status_code == 409

    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]

    async def tail() -> list[str] | None:
        types = [e["type"] for e in await case_events(bootstrap, number)]
        return types if "complaint.case_reopened" in types else None

    types = await eventually(tail, timeout=30)
    assert types[-2:] == ["complaint.satisfaction_recorded", "complaint.case_reopened"]


async def test_a_complaint_lodged_too_long_ago_is_refused_at_the_desk_and_dead_lettered(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """A `submitted_at` older than the setting (a typo, a wrong year) would breach every limit
    at once and page staff: the desk gets a 422 naming it, the event goes to the dead letters
    with the reason, and neither opens a case; a complaint lodged within it is taken."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    too_old = datetime.now(UTC) - timedelta(days=OLDEST_SUBMISSION_DAYS + 1)
    for submitted in ("1900-01-01T00:00:00Z", too_old.isoformat()):
        patient = {"patient_id": f"P-{uid()}", "name": "李四", "phone": "13900139000"}
        body = {
            "description": "候诊排队等了三个小时",
            "patient": patient,
            "submitted_at": submitted,
        }
        refused = await http.post("/v1/cases", json=body, headers=tokens["agent"])
        assert refused.status_code == 422, refused.text
        [problem] = refused.json()["errors"]
        assert problem["location"] == ["body", "submitted_at"]
        listed = await http.get(
            "/v1/cases", params={"patient_id": patient["patient_id"]}, headers=tokens["supervisor"]
        )
        assert listed.json()["items"] == []
    late = datetime.now(UTC) - timedelta(days=OLDEST_SUBMISSION_DAYS - 1)
    assert (await open_at_desk(http, tokens["agent"], submitted_at=late.isoformat()))["case_number"]

    bad = complaint_event(submitted_at="1900-01-01T00:00:00+00:00")
    good = complaint_event()
    await publish(
        bootstrap,
        topics.COMPLAINTS_IN,
        [(e["data"]["patient"]["patient_id"], to_bytes(e)) for e in (bad, good)],
    )

    async def dead() -> list[dict[str, str]]:
        found = []
        for r in await read_all(bootstrap, topics.dead_letter_topic(topics.COMPLAINTS_IN)):
            headers = {k: v.decode() for k, v in r.headers}
            if (
                bad["id"].encode() in (r.value or b"")
                and headers.get("dlq-service") == "complaints"
            ):
                found.append(headers)
        return found

    letters = await eventually(dead, timeout=60)
    assert all("submitted_at" in letter["dlq-reason"] for letter in letters), letters

    async def listed(patient_id: str) -> list[dict[str, Any]]:
        r = await http.get("/v1/cases", params={"patient_id": patient_id}, headers=tokens["doctor"])
        return r.json()["items"]  # type: ignore[no-any-return]

    assert await eventually(lambda: listed(good["data"]["patient"]["patient_id"]), timeout=30)
    assert await listed(bad["data"]["patient"]["patient_id"]) == []


async def test_a_case_is_reassigned_only_to_a_handler_and_never_to_its_own_handler_again(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """The director (like operations) cannot work a case: reassigning one to them is refused;
    reassigning it to whoever has it already changes nothing (no audit line, no new version,
    no case_assigned event)."""
    case = await open_at_desk(http, tokens["agent"])
    number, path = case["case_number"], f"/v1/cases/{case['case_number']}"
    assert case["assignee_id"] == "S-AGENT-01"
    refused = await http.post(
        f"{path}/assignment", json={"assignee_id": "S-DIR-01"}, headers=tokens["supervisor"]
    )
    assert refused.status_code == 409, refused.text
    assert "S-DIR-01" in refused.json()["detail"]
    audit = (await http.get(f"{path}/audit", headers=tokens["supervisor"])).json()["audit"]
    again = await http.post(
        f"{path}/assignment", json={"assignee_id": "S-AGENT-01"}, headers=tokens["supervisor"]
    )
    assert again.status_code == 200, again.text
    assert (again.json()["version"], again.json()["assignee_id"]) == (case["version"], "S-AGENT-01")
    after = (await http.get(f"{path}/audit", headers=tokens["supervisor"])).json()["audit"]
    assert after == audit
    moved = await http.post(
        f"{path}/assignment", json={"assignee_id": "S-SUP-01"}, headers=tokens["supervisor"]
    )
    assert moved.json()["assignee_id"] == "S-SUP-01"
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]

    async def assigned() -> list[dict[str, Any]] | None:
        found = [e for e in await case_events(bootstrap, number) if e["type"].endswith("assigned")]
        return found or None

    [only] = await eventually(assigned, timeout=30)  # the move to S-SUP-01 alone
    assert only["data"]["assignee_id"] == "S-SUP-01"


async def test_a_supervisor_made_inactive_on_the_roster_changes_no_case(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """The ward supervisor's token still works while their session lasts, but once the roster
    says they are inactive they keep no department-wide powers: a step or a note is a 403.
    The case's handler still works it."""
    saved = envelope(
        "staff.member_saved",
        {"staff_id": "S-SUP-02", "name": "护士长 孙丽", "department_code": "CARD",
         "role": "supervisor", "capacity": 20, "active": False},
        subject="S-SUP-02",
    )  # fmt: skip
    await publish(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.STAFF_ROSTER, [("S-SUP-02", to_bytes(saved))])  # fmt: skip

    async def inactive() -> bool:
        conn = await db(stack_env["DATABASE_URL"])
        try:
            return (
                await conn.fetchval("SELECT active FROM staff WHERE staff_id = 'S-SUP-02'") is False
            )
        finally:
            await conn.close()

    await eventually(inactive, timeout=30)
    case = await open_at_desk(http, tokens["agent"], department={"code": "CARD", "name": "心内科"})
    path = f"/v1/cases/{case['case_number']}"
    ward = {"Authorization": f"Bearer {stack_env['TOKEN_WARD_SUPERVISOR']}"}
    step = await http.post(f"{path}/transitions", json={"to": "acknowledged"}, headers=ward)
    assert step.status_code == 403, step.text
    assert "inactive" in step.json()["detail"]
    note = await http.post(f"{path}/notes", json={"note": "已了解情况"}, headers=ward)
    assert note.status_code == 403, note.text
    assert (await http.get(path, headers=ward)).status_code == 200  # reading is not changing
    handled = await http.post(f"{path}/transitions", json={"to": "acknowledged"}, headers=tokens["doctor"])  # fmt: skip
    assert handled.status_code == 200, handled.text


# --- time limits --------------------------------------------------------------------------


async def test_limits_on_the_case_follow_the_national_day_holiday_and_make_up_days(
    complaints, http, tokens
) -> None:  # type: ignore[no-untyped-def]
    case = await open_at_desk(
        http,
        tokens["supervisor"],  # an imaging dispute goes to radiology, the desk agent sees a receipt
        description="做了CT，报告与片子不符",
        submitted_at="2026-09-30T10:00:00+08:00",
    )
    assert case["category"] == "imaging_dispute" and case["case_number"].startswith("TS-20260930-")
    due = {t["limit"]: datetime.fromisoformat(t["due_at"]) for t in case["time_limits"]}
    cst = datetime.fromisoformat("2026-09-30T10:00:00+08:00").tzinfo
    assert due["fact_finding"] == datetime(2026, 10, 12, 10, tzinfo=cst)  # 10-8, 10-9, 10-10, 10-12
    assert due["first_response"] == datetime(2026, 10, 1, 10, tzinfo=cst)
    assert due["imaging_confirmation"] == datetime(2026, 9, 30, 12, tzinfo=cst)


async def _alerts(bootstrap: str, numbers: set[str]) -> list[dict[str, Any]]:
    events = json_values(await read_all(bootstrap, topics.COMPLAINT_CASES))
    return [
        e
        for e in events
        if e.get("subject") in numbers and e["type"].startswith("complaint.time_limit_")
    ]


async def later_timer_pass(
    http: httpx.AsyncClient, tokens: dict[str, Any], stack_env: dict[str, str]
) -> None:
    """Proof that the time-limit timer has run after now, and that everything fired before was
    published: a case opened now, its limits pushed into the past, has its first-response
    breach out. Alerts are published in commit order, so a repeat fired by an earlier pass
    would be out by then."""
    number = (await open_at_desk(http, tokens["agent"]))["case_number"]
    conn = await db(stack_env["DATABASE_URL"])
    try:
        await conn.execute(
            "UPDATE case_deadlines d SET starts_at = now() - interval '10 days',"
            " warn_at = now() - interval '2 days', due_at = now() - interval '1 day'"
            " FROM cases c WHERE c.id = d.case_id AND c.case_number = $1",
            number,
        )
    finally:
        await conn.close()

    async def breached() -> list[dict[str, Any]]:
        alerts = await _alerts(stack_env["KAFKA_BOOTSTRAP_SERVERS"], {number})
        return [e for e in alerts if e["type"] == "complaint.time_limit_breached"]

    await eventually(breached, timeout=30)
    await withdraw_marker(http, tokens, number)


async def withdraw_marker(http: httpx.AsyncClient, tokens: dict[str, Any], number: str) -> None:
    """A marker case is withdrawn once it has served, so that it weighs on no one's workload
    (the next cases are assigned as they would have been without it)."""
    r = await move(http, number, "withdrawn", tokens["supervisor"])
    assert r.status_code == 200, r.text


async def consumed_up_to_here(
    http: httpx.AsyncClient, tokens: dict[str, Any], bootstrap: str, key: str
) -> None:
    """Proof that every complaint sent before on `key`'s partition was consumed and what it
    caused published: a marker complaint sent after it with the same key has its case_opened
    out (the outbox is published in commit order)."""
    marker = complaint_event()
    patient_id = marker["data"]["patient"]["patient_id"]
    await publish(bootstrap, topics.COMPLAINTS_IN, [(key, to_bytes(marker))])

    async def opened() -> list[dict[str, Any]]:
        events = json_values(await read_all(bootstrap, topics.COMPLAINT_CASES))
        return [
            e for e in events
            if e["type"] == "complaint.case_opened"
            and (e["data"].get("patient") or {}).get("patient_id") == patient_id
        ]  # fmt: skip

    [event] = await eventually(opened, timeout=30)
    await withdraw_marker(http, tokens, event["subject"])


async def test_warnings_and_breaches_fire_once_with_two_instances_running(
    complaints, http, tokens, stack_config, stack_env
) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    second = devstack.start_service(
        stack_config,
        "complaints",
        extra_env={**FAST_TIMERS, "COMPLAINTS_HTTP_PORT": str(port)},
        log_name="complaints-second",
    )
    try:
        await asyncio.to_thread(devstack.wait_ready, f"http://127.0.0.1:{port}/readyz", 60)
        now = datetime.now(UTC)
        # Lodged 25 h ago: first response breached; lodged 20 h ago: only warned (80% = 19.2 h).
        late = [
            (
                await open_at_desk(
                    http, tokens["agent"], submitted_at=(now - timedelta(hours=25)).isoformat()
                )
            )["case_number"]
            for _ in range(10)
        ]
        warned = [
            (
                await open_at_desk(
                    http, tokens["agent"], submitted_at=(now - timedelta(hours=20)).isoformat()
                )
            )["case_number"]
            for _ in range(10)
        ]
        bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
        numbers = set(late) | set(warned)

        async def enough() -> list[dict[str, Any]] | None:
            found = [
                e
                for e in await _alerts(bootstrap, numbers)
                if e["data"]["limit"] == "first_response"
            ]
            return found if len(found) >= 30 else None

        await eventually(enough, timeout=30)
        await later_timer_pass(http, tokens, stack_env)  # both instances ran passes since
        alerts = [
            e for e in await _alerts(bootstrap, numbers) if e["data"]["limit"] == "first_response"
        ]
        keys = [(e["subject"], e["data"]["level"]) for e in alerts]
        assert len(keys) == len(set(keys)) == 30
        assert {(n, "breach") for n in late} <= set(keys)
        assert not {(n, "breach") for n in warned} & set(keys)
        assert all(e["data"]["supervisor_id"] == "S-SUP-01" for e in alerts)

        # Acknowledging a warned case stops its clock: no breach ever follows.
        r = await move(http, warned[0], "acknowledged", tokens["agent"])
        case = r.json()
        assert {t["limit"]: t["state"] for t in case["time_limits"]}["first_response"] == "met"

        await _race_timer_passes(http, tokens, stack_env)
    finally:
        second.terminate()
        await asyncio.to_thread(second.wait, 15)


async def _race_timer_passes(
    http: httpx.AsyncClient, tokens: dict[str, Any], stack_env: dict[str, str]
) -> None:
    """Make 30 cases' limits all due at one instant, then race eight timer passes of this
    process against the two running instances: still one warning and one breach each."""
    from complaints.timers import timer_pass

    numbers = [(await open_at_desk(http, tokens["agent"]))["case_number"] for _ in range(30)]
    pool = await asyncpg.create_pool(
        stack_env["DATABASE_URL"], server_settings={"search_path": "complaints"}, max_size=10
    )
    assert pool is not None

    async def drain() -> int:
        fired = 0
        while n := await timer_pass(
            pool, now=datetime.now(UTC), batch_size=5, desk_department="CS"
        ):
            fired += n
        return fired

    try:
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE case_deadlines d SET starts_at = now() - interval '10 days',"
                " warn_at = now() - interval '2 days', due_at = now() - interval '1 day'"
                " FROM cases c WHERE c.id = d.case_id AND c.case_number = ANY($1)",
                numbers,
            )
        await asyncio.gather(*(drain() for _ in range(8)))

        async def alerts_in_db() -> int:
            async with pool.acquire() as conn:
                return int(
                    await conn.fetchval(
                        "SELECT count(*) FROM time_limit_alerts a"
                        " JOIN cases c ON c.id = a.case_id WHERE c.case_number = ANY($1)",
                        numbers,
                    )
                )

        # Rows the instances held (SKIP LOCKED) were skipped here; they finish them.
        await eventually(lambda: _at_least(alerts_in_db, 120), timeout=30)
        await later_timer_pass(http, tokens, stack_env)
        in_db = await alerts_in_db()
    finally:
        await pool.close()
    expected = 30 * 2 * 2  # first response and fact-finding, warning and breach
    assert in_db == expected
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]

    async def published() -> list[dict[str, Any]] | None:
        found = await _alerts(bootstrap, set(numbers))
        return found if len(found) >= expected else None

    await eventually(published, timeout=30)
    alerts = await _alerts(bootstrap, set(numbers))  # the marker's were out after them all
    keys = [(e["subject"], e["data"]["limit"], e["data"]["level"]) for e in alerts]
    assert len(keys) == len(set(keys)) == expected


async def _at_least(count: Any, n: int) -> bool:
    return bool(await count() >= n)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- classification, access, retention -----------------------------------------------------


async def test_the_hospital_edits_the_rules_and_new_cases_show_the_rule_that_matched(
    complaints, http, tokens
) -> None:  # type: ignore[no-untyped-def]
    keyword = f"空调{uid()}"
    r = await http.post(
        "/v1/category-rules",
        json={"category": "environment", "keyword": keyword, "position": 1},
        headers=tokens["agent"],
    )
    assert r.status_code == 403
    r = await http.post(
        "/v1/category-rules",
        json={"category": "environment", "keyword": keyword, "position": 1},
        headers=tokens["supervisor"],
    )
    assert r.status_code == 201, r.text
    rule = r.json()
    case = await open_at_desk(http, tokens["agent"], description=f"{keyword}太冷，而且排队太久")
    assert case["category"] == "environment"
    assert (case["classification"]["rule_id"], case["classification"]["keyword"]) == (
        rule["id"],
        keyword,
    )
    assert f"rule #{rule['id']}" in case["classification"]["explanation"]
    rules = (await http.get("/v1/category-rules", headers=tokens["agent"])).json()["rules"]
    assert any(r["keyword"] == "医疗事故" and r["serious"] for r in rules)  # seeded defaults


async def test_complaint_data_is_restricted_by_role(complaints, http, tokens) -> None:  # type: ignore[no-untyped-def]
    case = await open_at_desk(http, tokens["agent"])
    number = case["case_number"]
    assert (await http.get(f"/v1/cases/{number}")).status_code == 401
    assert (
        await http.get(f"/v1/cases/{number}", headers={"Authorization": "Bearer nope"})
    ).status_code == 401
    assert (await http.get(f"/v1/cases/{number}", headers=tokens["doctor"])).status_code == 403
    assert (await http.get(f"/v1/cases/{number}", headers=tokens["integration"])).status_code == 403
    doctors_list = (await http.get("/v1/cases", headers=tokens["doctor"])).json()["items"]
    assert number not in {c["case_number"] for c in doctors_list}
    assert (await move(http, number, "acknowledged", tokens["doctor"])).status_code == 403
    admin_view = (await http.get(f"/v1/cases/{number}", headers=tokens["admin"])).json()
    assert admin_view["patient"]["phone"] == "+86139****9000" and admin_view["patient"]["masked"]
    assert admin_view["patient"]["name"] == "李*"
    handler_view = (await http.get(f"/v1/cases/{number}", headers=tokens["agent"])).json()
    assert handler_view["patient"]["phone"] == "+8613900139000"
    assert (await move(http, number, "acknowledged", tokens["admin"])).status_code == 403


async def test_repeating_an_opening_never_hands_the_complaint_to_someone_who_may_not_read_it(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """The integration token repeats a hospital system's complaint (handled by the cardiology
    doctor); the desk agent repeats an opening of theirs that went to cardiology. Both get the
    idempotent answer (created: false, the case's number and status) but not the text, the
    patient or the handler, which `GET` refuses them. Repeating an opening the agent handles
    answers with the case."""
    event = complaint_event()
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        topics.COMPLAINTS_IN,
        [(event["subject"], to_bytes(event))],
    )
    patient_id = event["data"]["patient"]["patient_id"]

    async def listed() -> list[dict[str, Any]]:
        r = await http.get("/v1/cases", params={"patient_id": patient_id}, headers=tokens["doctor"])
        return r.json()["items"]  # type: ignore[no-any-return]

    [case] = await eventually(listed, timeout=30)
    number = case["case_number"]
    assert case["assignee_id"] == "S-DOC-01"
    again = {
        "channel": event["data"]["channel"],
        "external_id": event["data"]["external_id"],
        "description": "a replay's own text is not what it gets back",
    }
    assert (await http.get(f"/v1/cases/{number}", headers=tokens["integration"])).status_code == 403
    replay = await http.post("/v1/cases", json=again, headers=tokens["integration"])
    assert replay.status_code == 201, replay.text
    assert replay.json() == {
        "created": False,
        "case_number": number,
        "status": "received",
        "redacted": True,
    }

    cardiology = {"external_id": f"DESK-{uid()}", "department": {"code": "CARD", "name": "心内科"}}
    first = await open_at_desk(http, tokens["agent"], **cardiology)
    assert first["created"] is True and first["redacted"] is True
    repeat = await open_at_desk(http, tokens["agent"], **cardiology)
    assert repeat == {
        "created": False,
        "case_number": first["case_number"],
        "status": "received",
        "redacted": True,
    }
    got = await http.get(f"/v1/cases/{first['case_number']}", headers=tokens["agent"])
    assert got.status_code == 403

    own = f"DESK-{uid()}"
    mine = await open_at_desk(http, tokens["agent"], external_id=own)
    again_mine = await open_at_desk(http, tokens["agent"], external_id=own)
    assert again_mine["created"] is False and again_mine["case_number"] == mine["case_number"]
    assert again_mine["description"] == mine["description"] == "候诊排队等了三个小时"


async def test_a_desk_cannot_take_a_hospital_systems_complaint_id_first(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """Hospital systems' ids are often sequential. An agent opening a case under the id the
    system will use next keeps it under their own name: the system's complaint, arriving
    after it, still opens its case instead of being dropped as a repeat."""
    event = complaint_event()
    taken = await open_at_desk(
        http,
        tokens["agent"],
        channel=event["data"]["channel"],
        external_id=event["data"]["external_id"],
    )
    assert taken["created"] is True
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        topics.COMPLAINTS_IN,
        [(event["subject"], to_bytes(event))],
    )

    async def listed() -> list[dict[str, Any]]:
        params = {"patient_id": event["data"]["patient"]["patient_id"]}
        r = await http.get("/v1/cases", params=params, headers=tokens["admin"])
        return r.json()["items"]  # type: ignore[no-any-return]

    [case] = await eventually(listed, timeout=30)
    assert case["case_number"] != taken["case_number"]
    assert case["description"] == event["data"]["description"]


async def test_only_a_supervisor_withdraws_a_case(complaints, http, tokens) -> None:  # type: ignore[no-untyped-def]
    number = (await open_at_desk(http, tokens["agent"]))["case_number"]
    refused = await move(http, number, "withdrawn", tokens["agent"])
    assert refused.status_code == 403 and "supervisor" in refused.text
    assert (await move(http, number, "acknowledged", tokens["agent"])).status_code == 200
    refused = await move(http, number, "withdrawn", tokens["agent"])
    assert refused.status_code == 403
    withdrawn = await move(http, number, "withdrawn", tokens["supervisor"])
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"


async def test_retention_purges_old_finished_cases_and_never_reuses_their_numbers(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    from complaints.timers import purge_expired

    old = await case_in(http, tokens, "withdrawn")
    kept = await case_in(http, tokens, "acknowledged")
    pool = await asyncpg.create_pool(
        stack_env["DATABASE_URL"], server_settings={"search_path": "complaints"}
    )
    assert pool is not None
    try:
        children = (
            "SELECT (SELECT count(*) FROM case_deadlines WHERE case_id = $1),"
            " (SELECT count(*) FROM case_audit WHERE case_id = $1)"
        )
        async with pool.acquire() as conn:
            old_id = await conn.fetchval(
                "UPDATE cases SET finished_at = now() - interval '4 years' WHERE case_number = $1"
                " RETURNING id",
                old,
            )
            kept_id = await conn.fetchval("SELECT id FROM cases WHERE case_number = $1", kept)
            assert all(await conn.fetchrow(children, old_id))  # its clocks and audit trail
            kept_children = tuple(await conn.fetchrow(children, kept_id))
        removed = await purge_expired(pool, now=datetime.now(UTC), retention_days=3 * 365 + 1)
        assert old in removed and kept not in removed
        async with pool.acquire() as conn:
            assert (
                await conn.fetchval("SELECT count(*) FROM cases WHERE case_number = $1", old) == 0
            )
            assert tuple(await conn.fetchrow(children, old_id)) == (0, 0)
            assert tuple(await conn.fetchrow(children, kept_id)) == kept_children
            day, seq = old.split("-")[1], int(old.split("-")[2])
            newer = await open_at_desk(http, tokens["agent"])
            if newer["case_number"].split("-")[1] == day:
                assert int(newer["case_number"].split("-")[2]) > seq
    finally:
        await pool.close()
    assert (await http.get(f"/v1/cases/{old}", headers=tokens["admin"])).status_code == 404


async def test_cases_go_to_staff_from_the_follow_up_services_roster(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    dept = f"ORTH-{uid()}"
    members = [
        {"staff_id": f"S-{dept}-SUP", "role": "supervisor"},
        {"staff_id": f"S-{dept}-DOC", "role": "doctor"},
    ]
    events = [
        envelope(
            "staff.member_saved",
            {"name": "骨科 员工", "department_code": dept, "capacity": 20, **m},
            subject=m["staff_id"],
        )
        for m in members
    ]
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        topics.STAFF_ROSTER,
        [(e["subject"], to_bytes(e)) for e in events],
    )

    async def on_roster() -> bool:
        conn = await db(stack_env["DATABASE_URL"])
        try:
            return bool(
                await conn.fetchval("SELECT count(*) FROM staff WHERE department_code = $1", dept)
                == 2
            )
        finally:
            await conn.close()

    await eventually(on_roster, timeout=30)
    opened = await open_at_desk(http, tokens["agent"], department={"code": dept, "name": "骨科"})
    assert opened["redacted"]  # the desk agent does not handle it, so cannot read it
    case = (await http.get(f"/v1/cases/{opened['case_number']}", headers=tokens["admin"])).json()
    assert (case["assignee_id"], case["supervisor_id"]) == (f"S-{dept}-DOC", f"S-{dept}-SUP")
    assert case["handling_department"] == dept
