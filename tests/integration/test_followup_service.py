"""The follow-up service as one real process against the real Kafka and PostgreSQL: discharges
and visits in -> tasks through the API -> call outcomes -> lifecycle events and complaints out.

Each module run works in its own department (a random code) with its own staff, created
through the roster API, so other modules sharing the stack do not disturb the assignments.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

import devstack
from followup.policy import DepartmentPolicy, is_sampled, outpatient_rate
from hospital_shared import topics
from hospital_shared.auth import DEV_TOKENS
from hospital_shared.events import VisitType
from tests.factories import NOW as FACTORY_NOW
from tests.factories import discharge, envelope, registration, to_bytes
from tests.integration.services import RunningService, dev_token_roster, running
from tests.kafka_tools import eventually, json_values, publish, read_all

RUN = uuid.uuid4().hex[:6].upper()
DEPT = f"T{RUN}"
OTHER_DEPT = f"U{RUN}"  # no staff at all: tasks fall back to the customer-service centre
DOC1, DOC2, SUP = f"D1-{RUN}", f"D2-{RUN}", f"SUP-{RUN}"
LEAVING_DEPT = f"L{RUN}"  # the deactivation test's own department: its staff come and go
LEAVER, STAYER = f"D3-{RUN}", f"D4-{RUN}"
ROLE_DEPT, CHANGER = f"R{RUN}", f"D5-{RUN}"  # the role-change test's own department and doctor
# the department-change test's: the doctor's department, the one they move to, and the doctor
FROM_DEPT, TO_DEPT, MOVER = f"F{RUN}", f"N{RUN}", f"D6-{RUN}"
TOKENS = {
    **{token: p.model_dump(mode="json") for token, p in DEV_TOKENS.items()},
    "t-doc1": {"role": "doctor", "staff_id": DOC1, "department": DEPT},
    "t-doc2": {"role": "doctor", "staff_id": DOC2, "department": DEPT},
    "t-sup": {"role": "supervisor", "staff_id": SUP, "department": DEPT},
    "t-leaver": {"role": "doctor", "staff_id": LEAVER, "department": LEAVING_DEPT},
}
SERVICE_ENV = {
    "AUTH_TOKENS": json.dumps(TOKENS),
    "FOLLOWUP_SCAN_INTERVAL_S": "0.5",
    "FOLLOWUP_ASSIGN_INTERVAL_S": "0.3",
    "FOLLOWUP_RETENTION_INTERVAL_S": "1",
    "FOLLOWUP_DEPARTMENT_POLICIES": json.dumps({DEPT: {"spot_check_rate": 1.0}}),
}
ADMIN = "dev-admin-token"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def followup(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "followup", SERVICE_ENV) as service:
        yield service


@pytest.fixture(scope="module")
async def api(followup: RunningService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=followup.url, timeout=10) as client:
        for staff_id, role, capacity in (
            (DOC1, "doctor", 50),
            (DOC2, "doctor", 50),
            (SUP, "supervisor", 50),
        ):
            body = {"name": f"测试 {staff_id}", "department_code": DEPT, "role": role,
                    "capacity": capacity, "phone": "13700000000"}  # fmt: skip
            resp = await client.put(f"/v1/staff/{staff_id}", json=body, headers=auth(ADMIN))
            assert resp.status_code == 200, resp.text
        yield client


def unique(n: int = 1) -> list[int]:
    base = uuid.uuid4().int % 10**8
    return [base + i for i in range(n)]


def in_dept(event: dict[str, Any], dept: str = DEPT) -> dict[str, Any]:
    event["data"]["department"] = {"code": dept, "name": "测试科"}
    return event


async def send(bootstrap: str, topic: str, *events: dict[str, Any]) -> None:
    await publish(bootstrap, topic, [(e["subject"], to_bytes(e)) for e in events])


async def task(api: httpx.AsyncClient, task_id: str, token: str = ADMIN) -> dict[str, Any] | None:
    resp = await api.get(f"/v1/tasks/{task_id}", headers=auth(token))
    return resp.json() if resp.status_code == 200 else None


async def task_in(api: httpx.AsyncClient, task_id: str, *statuses: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        found = await task(api, task_id)
        return found if found and found["status"] in statuses else None

    result: dict[str, Any] = await eventually(check, timeout=30, interval=0.3)
    return result


async def events_of(
    bootstrap: str, topic: str, task_id: str, type_: str | None = None
) -> list[dict[str, Any]]:
    found = [
        e for e in json_values(await read_all(bootstrap, topic))
        if e.get("data", {}).get("task_id") == task_id and (type_ is None or e["type"] == type_)
    ]  # fmt: skip
    return found


async def wait_events(bootstrap: str, task_id: str, type_: str, n: int = 1) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        found = await events_of(bootstrap, topics.FOLLOWUP_TASKS, task_id, type_)
        return found if len({e["id"] for e in found}) >= n else None

    result: list[dict[str, Any]] = await eventually(check, timeout=30)
    return result


async def consumed_up_to_here(bootstrap: str, topic: str, patient_id: str) -> None:
    """Proof that every event sent before on `patient_id`'s partition of `topic` has been
    consumed and its outgoing events published: a marker sent after it with the same key (so
    on the same partition, behind it) has had its own `task_planned` published. The outbox
    relay publishes in commit order, so anything the earlier events caused is out by then."""
    [m] = unique()
    patient = {"patient_id": f"M{m}", "name": "标记", "phone": "13800138000"}  # another patient
    if topic == topics.DISCHARGES:
        marker, task_id = in_dept(discharge(m, patient=patient)), f"FU-A{m:06d}"
    else:  # a first visit that is sampled, so that it gets a call
        m = next(i for i in unique(50) if is_sampled(f"R{i:06d}", 0.6))
        marker, task_id = in_dept(registration(m, patient=patient)), f"FU-OP-R{m:06d}"
    marker["subject"] = patient_id  # the key: the same partition, behind the events tested
    await send(bootstrap, topic, marker)
    await wait_events(bootstrap, task_id, "followup.task_planned")


async def outcome(api: httpx.AsyncClient, task_id: str, token: str, **body: Any) -> httpx.Response:
    return await api.post(f"/v1/tasks/{task_id}/outcome", json=body, headers=auth(token))


def token_of(staff_id: str) -> str:
    return {DOC1: "t-doc1", DOC2: "t-doc2", SUP: "t-sup"}[staff_id]


async def test_roster_changes_are_published_for_the_other_services(api, stack_env) -> None:  # type: ignore[no-untyped-def]
    async def saved() -> list[dict[str, Any]] | None:
        events = json_values(
            await read_all(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.STAFF_ROSTER)
        )
        mine = [
            e
            for e in events
            if e["type"] == "staff.member_saved" and e["data"]["staff_id"] in (DOC1, SUP)
        ]
        return mine if len(mine) >= 2 else None

    events = await eventually(saved, timeout=30)
    sup = next(e["data"] for e in events if e["data"]["staff_id"] == SUP)
    # the phone as the roster stores it, E.164 (it was saved as 13700000000)
    assert sup | {"name": "x"} == {"staff_id": SUP, "name": "x", "department_code": DEPT,
                                    "role": "supervisor", "capacity": 50,
                                    "phone": "+8613700000000", "active": True}  # fmt: skip
    listed = (await api.get("/v1/staff", headers=auth("t-sup"))).json()["items"]
    assert {s["staff_id"] for s in listed} == {DOC1, DOC2, SUP}
    seeded = (await api.get("/v1/staff?department=CS", headers=auth(ADMIN))).json()["items"]
    assert {"S-AGENT-01", "S-SUP-01"} <= {s["staff_id"] for s in seeded}
    # a supervisor cannot manage another department's roster
    body = {"name": "x", "department_code": "CS", "role": "agent", "capacity": 1}
    assert (await api.put("/v1/staff/S-X", json=body, headers=auth("t-sup"))).status_code == 403
    # an admin (operations) member hears the operations alerts: only an admin saves one
    ops = {"name": "x", "department_code": DEPT, "role": "admin", "capacity": 0}
    assert (await api.put("/v1/staff/S-OPS-X", json=ops, headers=auth("t-sup"))).status_code == 403
    # saved inactive: the alerts test's admin stays the roster's first active one
    saved_ops = await api.put(
        "/v1/staff/S-OPS-X", json=ops | {"active": False}, headers=auth(ADMIN)
    )
    assert saved_ops.status_code == 200, saved_ops.text  # was a 500: the role check knew no admin


async def test_a_discharge_becomes_one_assigned_task_even_when_redelivered(api, stack_env) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    [n] = unique()
    event = in_dept(discharge(n))
    await send(bootstrap, topics.DISCHARGES, event, event, event)
    task_id = f"FU-A{n:06d}"
    found = await task_in(api, task_id, "assigned")
    assert found["kind"] == "inpatient_discharge"
    assert found["why"] == {"rule": "inpatient.every_discharge", "source_event_id": event["id"],
                            "source_ref": f"A{n:06d}", "parent_task_id": None}  # fmt: skip
    assert found["assignee_id"] in (DOC1, DOC2)
    assert found["patient"]["phone"] == "+8613800138000"  # E.164 on the wire
    assert found["due_at"].endswith("Z") and found["created_at"].endswith("Z")  # UTC, one style
    planned = await wait_events(bootstrap, task_id, "followup.task_planned")
    assigned = await wait_events(bootstrap, task_id, "followup.task_assigned")
    await consumed_up_to_here(bootstrap, topics.DISCHARGES, event["subject"])
    assert (
        len(await events_of(bootstrap, topics.FOLLOWUP_TASKS, task_id, "followup.task_planned"))
        == 1
    )
    assert planned[0]["data"]["source_event_id"] == event["id"]
    assert assigned[0]["data"]["assignee_id"] == found["assignee_id"]
    listed = (await api.get(f"/v1/tasks?patient_id=P{n:06d}", headers=auth("t-sup"))).json()
    assert [t["task_id"] for t in listed["items"]] == [task_id]
    # A page at a time: three pages of two, following `next`, are the first six tasks.
    six = (await api.get("/v1/tasks?limit=6", headers=auth("t-sup"))).json()
    walked, link = [], "/v1/tasks?limit=2"
    for _ in range(3):
        page = (await api.get(link, headers=auth("t-sup"))).json()
        walked += [t["task_id"] for t in page["items"]]
        assert page["limit"] == 2 and len(page["items"]) <= 2
        link = page["next"]
        if link is None:
            break
    assert walked == [t["task_id"] for t in six["items"]]
    assert (await api.get("/v1/tasks?cursor=forged", headers=auth("t-sup"))).status_code == 422


async def test_every_planning_rule_on_the_real_stream(api, stack_env) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    a = unique(4)
    discharges = [
        in_dept(discharge(a[0], disposition="deceased")),
        in_dept(discharge(a[1], disposition="transferred")),
        in_dept(discharge(a[2], disposition="against_medical_advice")),
        in_dept(discharge(a[3], patient={"patient_id": f"P{a[3]}", "name": "王五",
                                         "phone": "13800138001", "sms_opt_out": True})),
    ]  # fmt: skip
    first = [i for i in unique(40)]
    visits = [in_dept(registration(i, visit_type="first")) for i in first]
    visits += [in_dept(registration(i, visit_type="return")) for i in unique(40)]
    await send(bootstrap, topics.DISCHARGES, *discharges)
    await send(bootstrap, topics.REGISTRATIONS, *visits)
    transfer = await task_in(api, f"FU-A{a[1]:06d}", "assigned", "planned")
    assert (transfer["kind"], transfer["eligible_roles"]) == ("transfer_check", ["doctor"])
    ama = await task_in(api, f"FU-A{a[2]:06d}", "assigned", "planned")
    assert ama["why"]["rule"] == "inpatient.against_medical_advice.doctor"
    expected = {
        f"FU-OP-{v['data']['registration_id']}"
        for v in visits
        if is_sampled(
            v["data"]["registration_id"],
            outpatient_rate(DepartmentPolicy(), VisitType(v["data"]["visit_type"])),
        )
    }
    assert expected  # 80 visits: some are sampled, some not

    async def visit_tasks() -> set[str] | None:
        conn = await asyncpg.connect(stack_env["DATABASE_URL"])
        try:
            rows = await conn.fetch(
                "SELECT task_id FROM followup.follow_up_tasks WHERE task_id = ANY($1)",
                [f"FU-OP-{v['data']['registration_id']}" for v in visits],
            )
        finally:
            await conn.close()
        found = {r["task_id"] for r in rows}
        return found if found == expected else None

    await eventually(visit_tasks, timeout=30)
    for skipped in discharges[0], discharges[3]:  # deceased, opted out: no call, ever
        await consumed_up_to_here(bootstrap, topics.DISCHARGES, skipped["subject"])
        assert await task(api, f"FU-{skipped['data']['admission_id']}") is None


async def test_cancellations_and_no_shows_withdraw_the_call(api, stack_env) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    sampled = [i for i in unique(60) if is_sampled(f"R{i:06d}", 0.6)][:3]
    created = [in_dept(registration(i)) for i in sampled]
    [d] = unique()
    await send(bootstrap, topics.REGISTRATIONS, *created[:2])
    await send(bootstrap, topics.DISCHARGES, in_dept(discharge(d)))
    for t in (f"FU-OP-R{sampled[0]:06d}", f"FU-OP-R{sampled[1]:06d}", f"FU-A{d:06d}"):
        await task_in(api, t, "planned", "assigned")
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    cancel = envelope("registration.cancelled", {"registration_id": f"R{sampled[0]:06d}",
                      "cancelled_at": later}, subject="x")  # fmt: skip
    no_show = envelope(
        "registration.no_show", {"registration_id": f"R{sampled[1]:06d}"}, subject="x"
    )
    early_cancel = envelope("registration.cancelled", {"registration_id": f"R{sampled[2]:06d}",
                            "cancelled_at": later}, subject="x")  # fmt: skip
    discharge_cancel = envelope("discharge.cancelled", {"admission_id": f"A{d:06d}"}, subject="x")
    await send(bootstrap, topics.REGISTRATIONS, cancel, no_show, early_cancel)
    await send(bootstrap, topics.DISCHARGES, discharge_cancel)
    assert (await task_in(api, f"FU-OP-R{sampled[0]:06d}", "withdrawn"))[
        "withdrawn_reason"
    ] == "visit_cancelled"
    assert (await task_in(api, f"FU-OP-R{sampled[1]:06d}", "withdrawn"))[
        "withdrawn_reason"
    ] == "visit_no_show"
    assert (await task_in(api, f"FU-A{d:06d}", "withdrawn"))[
        "withdrawn_reason"
    ] == "discharge_cancelled"
    withdrawn = await wait_events(bootstrap, f"FU-A{d:06d}", "followup.task_withdrawn")
    assert withdrawn[0]["data"]["reason"] == "discharge_cancelled"
    # the registration whose cancellation came first (out of order) never gets a call
    await send(bootstrap, topics.REGISTRATIONS, created[2])
    await consumed_up_to_here(bootstrap, topics.REGISTRATIONS, created[2]["subject"])
    assert await task(api, f"FU-OP-R{sampled[2]:06d}") is None


async def planned_and_assigned(
    api: httpx.AsyncClient, bootstrap: str, dept: str = DEPT
) -> dict[str, Any]:
    [n] = unique()
    await send(bootstrap, topics.DISCHARGES, in_dept(discharge(n), dept))
    return await task_in(api, f"FU-A{n:06d}", "assigned")


async def test_an_unreachable_patient_is_retried_then_published_for_an_sms_survey(
    api, stack_env
) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    t = await planned_and_assigned(api, bootstrap)
    token = token_of(t["assignee_id"])
    first = (await outcome(api, t["task_id"], token, reached=False, feedback="无人接听")).json()
    assert first["status"] == "assigned" and first["attempts_made"] == 1
    second = (await outcome(api, t["task_id"], token, reached=False)).json()
    assert second["attempts_made"] == 2
    third = (await outcome(api, t["task_id"], token, reached=False)).json()
    assert third == {"task_id": t["task_id"], "attempts_made": 3, "status": "unreachable"}
    assert (await outcome(api, t["task_id"], token, reached=False)).status_code == 409
    retries = await wait_events(bootstrap, t["task_id"], "followup.call_retry_scheduled", 2)
    assert sorted(e["data"]["attempts_made"] for e in retries) == [1, 2]
    [unreachable] = await wait_events(bootstrap, t["task_id"], "followup.task_unreachable")
    assert unreachable["data"]["attempts_made"] == 3
    assert unreachable["data"]["survey_invitation"] is True
    assert unreachable["data"]["patient_phone"] == "13800138000"
    # who made each attempt, for the per-staff appraisal figures
    assert [e["data"]["called_by"] for e in retries] == [t["assignee_id"]] * 2
    assert unreachable["data"]["called_by"] == t["assignee_id"]
    detail = await task(api, t["task_id"])
    assert detail is not None and [a["reached"] for a in detail["attempts"]] == [False] * 3


async def complaint_for(bootstrap: str, task_id: str) -> dict[str, Any]:
    """The objection of `task_id`, found by its event id (`<task>:complaint`, deterministic
    for exactly-once); its complaint id (`external_id`) cannot be worked out from the task."""

    async def check() -> list[dict[str, Any]] | None:
        found = [
            e
            for e in json_values(await read_all(bootstrap, topics.COMPLAINTS_IN))
            if e["type"] == "complaint.submitted" and e["id"] == f"{task_id}:complaint"
        ]
        return found or None

    [result] = await eventually(check, timeout=30)
    external_id = result["data"]["external_id"]
    assert re.fullmatch(r"OBJ-[0-9a-f]{32}", external_id), external_id
    assert task_id not in external_id
    return result  # type: ignore[no-any-return]


async def test_a_dissatisfied_patient_gets_a_supervisor_call_that_ends_in_a_complaint(
    api, stack_env
) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    t = await planned_and_assigned(api, bootstrap)
    resp = await outcome(api, t["task_id"], token_of(t["assignee_id"]), reached=True,
                         satisfaction="dissatisfied", score=2, feedback="护士态度差")  # fmt: skip
    assert resp.status_code == 200, resp.text
    second_id = resp.json()["second_call_task_id"]
    assert second_id == f"{t['task_id']}-2" and resp.json()["complaint_submitted"] is False
    [completed] = await wait_events(bootstrap, t["task_id"], "followup.task_completed")
    assert completed["data"]["satisfaction"] == "dissatisfied" and completed["data"]["score"] == 2
    second = await task_in(api, second_id, "assigned")
    assert (second["kind"], second["assignee_id"]) == ("second_call", SUP)
    assert second["why"]["parent_task_id"] == t["task_id"]
    worklist = (await api.get("/v1/worklist", headers=auth("t-sup"))).json()
    assert second_id in {
        x["task_id"] for b in ("overdue", "due_today", "upcoming") for x in worklist[b]
    }
    resp = await outcome(api, second_id, "t-sup", reached=True, satisfaction="dissatisfied",
                         objection="要求科室主任道歉")  # fmt: skip
    assert resp.json()["complaint_submitted"] is True
    complaint = await complaint_for(bootstrap, second_id)
    assert complaint["data"]["channel"] == "followup"
    assert complaint["data"]["description"] == "要求科室主任道歉"
    assert complaint["data"]["department"]["code"] == DEPT
    assert complaint["data"]["patient"]["patient_id"] == t["patient"]["patient_id"]


async def test_an_objection_is_handed_to_the_complaints_service(api, stack_env) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    t = await planned_and_assigned(api, bootstrap)
    resp = await outcome(api, t["task_id"], token_of(t["assignee_id"]), reached=True,
                         satisfaction="fairly_satisfied", objection="出院结算多收费")  # fmt: skip
    assert resp.json()["complaint_submitted"] is True
    complaint = await complaint_for(bootstrap, t["task_id"])
    assert (complaint["data"]["channel"], complaint["data"]["description"]) == (
        "followup",
        "出院结算多收费",
    )
    second_id = f"{t['task_id']}-2"
    await task_in(api, second_id, "assigned")  # and a supervisor calls back
    # The objection repeated on that call is the case's already opened: not a second case.
    resp = await outcome(api, second_id, "t-sup", reached=True, satisfaction="dissatisfied",
                         objection="出院结算多收费，仍未退还")  # fmt: skip
    assert resp.status_code == 200 and resp.json()["complaint_submitted"] is False, resp.text
    await wait_events(bootstrap, second_id, "followup.task_completed")
    db = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:
        queued = await db.fetchval(
            "SELECT count(*) FROM followup.outbox WHERE event_id = $1", f"{second_id}:complaint"
        )
    finally:
        await db.close()
    submitted = [e for e in json_values(await read_all(bootstrap, topics.COMPLAINTS_IN))
                 if e["type"] == "complaint.submitted" and e["id"].startswith(t["task_id"])]  # fmt: skip
    assert (queued, [e["id"] for e in submitted]) == (0, [f"{t['task_id']}:complaint"])


async def test_a_satisfied_call_is_spot_checked_by_a_supervisor(api, stack_env) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    t = await planned_and_assigned(api, bootstrap)  # this department spot-checks every call
    resp = await outcome(api, t["task_id"], token_of(t["assignee_id"]), reached=True,
                         satisfaction="satisfied", score=5)  # fmt: skip
    spot_id = resp.json()["spot_check_task_id"]
    spot = await task_in(api, spot_id, "assigned")
    assert (spot["kind"], spot["assignee_id"]) == ("spot_check", SUP)
    [planned] = await wait_events(bootstrap, spot_id, "followup.task_planned")
    assert planned["data"]["parent_task_id"] == t["task_id"]


async def test_an_outcome_plans_a_chronic_patients_calls_at_30_and_90_days_once(
    api, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """制定下次回访计划: the outcome plans two later calls with their own questions; each is a
    task (planned event, worklist, its plan on it) and a retry of the same outcome plans
    nothing twice."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    t = await planned_and_assigned(api, bootstrap)
    plan = [
        {"after_days": 30, "reason": "慢病随访", "questions": ["血压控制如何？", "是否按时服药？"]},
        {"after_days": 90, "reason": "慢病复查", "script_key": "chronic-90"},
    ]
    body = {"reached": True, "satisfaction": "satisfied", "next_calls": plan}
    token = token_of(t["assignee_id"])
    refused = await outcome(api, t["task_id"], token, **{**body, "next_calls": [{"reason": "x"}]})
    assert refused.status_code == 422 and refused.json()["errors"][0]["location"] == [
        "body", "next_calls", 0,
    ]  # fmt: skip
    resp = await outcome(api, t["task_id"], token, **body)
    assert resp.status_code == 200, resp.text
    ids = resp.json()["next_call_task_ids"]
    assert len(ids) == 2 and resp.json()["next_calls_not_planned"] is None
    again = await outcome(api, t["task_id"], token, **body)  # a retry after a lost answer
    assert again.status_code == 409
    thirty = await task_in(api, ids[0], "assigned")
    assert (thirty["kind"], thirty["why"]["parent_task_id"]) == ("next_call", t["task_id"])
    assert thirty["plan"] == {
        "reason": "慢病随访", "questions": ["血压控制如何？", "是否按时服药？"], "script_key": None,
    }  # fmt: skip
    assert thirty["assignee_id"] in (DOC1, DOC2) and thirty["bucket"] == "upcoming"
    ninety = await task_in(api, ids[1], "assigned")
    assert ninety["plan"]["script_key"] == "chronic-90"
    assert datetime.fromisoformat(ninety["not_before"]) > datetime.fromisoformat(thirty["due_at"])
    parent = await task(api, t["task_id"])
    assert parent is not None
    assert [n["task_id"] for n in parent["next_calls"]] == ids
    for task_id in ids:
        [planned] = await wait_events(bootstrap, task_id, "followup.task_planned")
        assert planned["data"]["rule"] == "outcome.next_call"
    # A marker behind the retry: still one task_planned per next call.
    await consumed_up_to_here(bootstrap, topics.DISCHARGES, t["patient"]["patient_id"])
    for task_id in ids:
        assert len(await events_of(bootstrap, topics.FOLLOWUP_TASKS, task_id,
                                   "followup.task_planned")) == 1  # fmt: skip


async def test_a_patient_who_opts_out_during_the_call_gets_no_next_call(api, stack_env) -> None:  # type: ignore[no-untyped-def]
    t = await planned_and_assigned(api, stack_env["KAFKA_BOOTSTRAP_SERVERS"])
    resp = await outcome(
        api, t["task_id"], token_of(t["assignee_id"]), reached=True, opt_out=True,
        next_calls=[{"after_days": 30, "reason": "慢病随访"}],
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert resp.json()["next_call_task_ids"] == []
    assert resp.json()["next_calls_not_planned"] == "patient.opted_out"
    parent = await task(api, t["task_id"])
    assert parent is not None and parent["next_calls"] == []


async def test_an_opt_out_withdraws_the_patients_open_calls(api, stack_env) -> None:  # type: ignore[no-untyped-def]
    """An opt-out said to an agent who did not reach the patient (a relative
    answered): the call's retry was still planned, and the patient's call of another stay
    stayed open. Both are withdrawn now, each announced once."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    first, other = unique(2)
    patient = discharge(first)["data"]["patient"]
    for n in (first, other):
        await send(bootstrap, topics.DISCHARGES, in_dept(discharge(n, patient=patient)))
    t1 = await task_in(api, f"FU-A{first:06d}", "assigned")
    t2 = await task_in(api, f"FU-A{other:06d}", "assigned")
    resp = await outcome(
        api, t1["task_id"], token_of(t1["assignee_id"]), reached=False, opt_out=True
    )
    assert resp.status_code == 200, resp.text
    # the answer says what became of the call: withdrawn, not a retry planned
    assert resp.json() == {"task_id": t1["task_id"], "attempts_made": 1, "status": "withdrawn"}
    for t in (t1, t2):
        withdrawn = await task_in(api, t["task_id"], "withdrawn")
        assert withdrawn["withdrawn_reason"] == "patient_opted_out", withdrawn
        events = await wait_events(bootstrap, t["task_id"], "followup.task_withdrawn")
        assert {(e["id"], e["data"]["reason"]) for e in events} == {
            (events[0]["id"], "patient_opted_out")
        }


async def test_an_opt_out_on_the_last_unanswered_attempt_sends_no_sms_survey(
    api, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """The opt-out said on the last attempt that reached no one closed the call `unreachable`
    with an SMS survey invitation: notifications texted the patient who had just opted out,
    and metrics counted an unreachable call. The opt-out decides first: the call is withdrawn,
    and what notifications and metrics read (followup.tasks.v1) says only that."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    t = await planned_and_assigned(api, bootstrap)
    token = token_of(t["assignee_id"])
    for attempt in (1, 2):
        assert (await outcome(api, t["task_id"], token, reached=False, attempt=attempt)).json()[
            "status"
        ] == "assigned"
    last = await outcome(api, t["task_id"], token, reached=False, opt_out=True, attempt=3)
    assert last.json() == {"task_id": t["task_id"], "attempts_made": 3, "status": "withdrawn"}
    closed = await task_in(api, t["task_id"], "withdrawn")
    assert (closed["withdrawn_reason"], closed["attempts_made"]) == ("patient_opted_out", 3)
    await wait_events(bootstrap, t["task_id"], "followup.task_withdrawn")
    # the relay publishes in commit order: the outcome's events are all out by now
    published = [e["type"] for e in await events_of(bootstrap, topics.FOLLOWUP_TASKS, t["task_id"])]
    assert "followup.task_unreachable" not in published, published
    assert published.count("followup.call_retry_scheduled") == 2, published


async def test_an_opt_out_read_back_withdraws_a_call_of_a_stay_after_it(api, stack_env) -> None:  # type: ignore[no-untyped-def]
    """After a restore the discharges are replayed beside the opt-outs, in no order between
    them: a stay discharged after the opt-out may have its call planned before the opt-out is
    read back. The opt-out read back withdraws it all the same."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    [n] = unique()
    patient_id = f"P{n:06d}"
    await send(bootstrap, topics.DISCHARGES, in_dept(discharge(n)))
    later = await task_in(api, f"FU-A{n:06d}", "planned", "assigned")
    earlier = {
        "patient_id": patient_id, "task_id": f"FU-A{n:06d}-EARLIER", "recorded_by": "S-ADMIN-01",
        "recorded_at": (FACTORY_NOW - timedelta(days=1)).isoformat(),
    }  # fmt: skip
    opt_out = envelope("followup.call_opt_out_recorded", earlier, subject=patient_id)
    await send(bootstrap, topics.CALL_OPT_OUTS, opt_out)
    withdrawn = await task_in(api, later["task_id"], "withdrawn")
    assert withdrawn["withdrawn_reason"] == "patient_opted_out"


async def test_access_is_by_role_and_scope(api, stack_env) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    t = await planned_and_assigned(api, bootstrap)
    owner, other = (DOC1, DOC2) if t["assignee_id"] == DOC1 else (DOC2, DOC1)
    assert (await api.get("/v1/tasks")).status_code == 401
    assert (await api.get("/v1/tasks", headers=auth("nonsense"))).status_code == 401
    assert (await api.get("/v1/tasks", headers=auth("dev-integration-token"))).status_code == 403
    assert await task(api, t["task_id"], token_of(other)) is None  # not theirs: 404
    assert (await outcome(api, t["task_id"], token_of(other), reached=False)).status_code == 404
    mine = (await api.get("/v1/tasks", headers=auth(token_of(other)))).json()["items"]
    assert all(x["assignee_id"] == other for x in mine)
    cs_sup = "dev-supervisor-token"
    assert (await api.get(f"/v1/tasks?department={DEPT}", headers=auth(cs_sup))).status_code == 403
    assert await task(api, t["task_id"], cs_sup) is None
    assert (
        await api.get(f"/v1/departments/{DEPT}/overview", headers=auth(cs_sup))
    ).status_code == 403
    move = {"assignee_id": other}
    path = f"/v1/tasks/{t['task_id']}/assignment"
    assert (await api.post(path, json=move, headers=auth(token_of(owner)))).status_code == 403
    # a supervisor may not take an ordinary discharge call: it is for agents and doctors
    refused = await api.post(path, json={"assignee_id": SUP}, headers=auth("t-sup"))
    assert refused.status_code == 422
    answer = await api.post(path, json=move, headers=auth("t-sup"))
    assert answer.status_code == 200 and answer.json()["assignee_id"] == other
    db = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:  # the answer names the patient and phone: the supervisor's read is recorded
        readers = await db.fetchval(
            "SELECT array_agg(staff_id) FROM followup.access_records"
            " WHERE $1 = ANY(record_ids) AND route = '/v1/tasks/{task_id}/assignment'"
            " AND outcome = 'granted'",
            t["task_id"],
        )
    finally:
        await db.close()
    assert readers == [SUP]
    moved = await task(api, t["task_id"], token_of(other))
    assert moved is not None and moved["assignee_id"] == other
    # the old verb route stays for a release (deprecated): it still moves, answering 204
    old = f"/v1/tasks/{t['task_id']}/reassign"
    assert (await api.post(old, json={"staff_id": other}, headers=auth("t-sup"))).status_code == 204
    events = await wait_events(bootstrap, t["task_id"], "followup.task_assigned", 2)
    reassigned = [e["data"] for e in events if e["data"].get("assigned_by") == SUP]
    assert reassigned == [reassigned[0]] and reassigned[0]["previous_assignee_id"] == owner
    assert await task(api, t["task_id"], token_of(owner)) is None  # no longer theirs


async def test_an_overdue_call_is_published_once_and_shows_in_the_worklists(api, stack_env) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    [n] = unique()
    long_ago = (datetime.now(UTC) - timedelta(days=10)).isoformat()
    event = in_dept(discharge(n, discharged_at=long_ago))
    await send(bootstrap, topics.DISCHARGES, event)
    t = await task_in(api, f"FU-A{n:06d}", "assigned")
    await wait_events(bootstrap, t["task_id"], "followup.task_overdue")
    # Proof of later scanner passes: a second overdue call, sent now, is found by one of them
    # (and published after the first's events): a repeat of the first would be out by then.
    [m] = unique()
    await send(bootstrap, topics.DISCHARGES, in_dept(discharge(m, discharged_at=long_ago)))
    await wait_events(bootstrap, f"FU-A{m:06d}", "followup.task_overdue")
    overdue = await events_of(
        bootstrap, topics.FOLLOWUP_TASKS, t["task_id"], "followup.task_overdue"
    )
    assert len({e["id"] for e in overdue}) == 1
    assert (
        len(
            {
                e["id"]
                for e in await events_of(
                    bootstrap, topics.FOLLOWUP_TASKS, t["task_id"], "followup.task_due"
                )
            }
        )
        == 1
    )
    worklist = (await api.get("/v1/worklist", headers=auth(token_of(t["assignee_id"])))).json()
    assert t["task_id"] in {x["task_id"] for x in worklist["overdue"]}
    view = (await api.get(f"/v1/departments/{DEPT}/overview", headers=auth("t-sup"))).json()
    assert t["task_id"] in {x["task_id"] for x in view["overdue"]}
    assert {s["assignee_id"] for s in view["staff"]} >= {t["assignee_id"]}
    # other tests' overdue calls share the department: every page, by the `next` links
    listed: set[str] = set()
    url: str | None = f"/v1/tasks?overdue=true&department={DEPT}&limit=200"
    while url:
        page = (await api.get(url, headers=auth("t-sup"))).json()
        listed |= {x["task_id"] for x in page["items"]}
        url = page["next"]
    assert t["task_id"] in listed


async def test_records_past_retention_are_deleted(api, stack_env) -> None:  # type: ignore[no-untyped-def]
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:
        old, recent = f"FU-OLD-{RUN}", f"FU-NEW-{RUN}"
        for task_id, closed in ((old, timedelta(days=3 * 365)), (recent, timedelta(days=365))):
            await conn.execute(
                "INSERT INTO followup.follow_up_tasks (task_id, kind, status, rule, patient_id,"
                " department_code, source_event_id, source_ref, source_time, not_before, due_at,"
                " closed_at) VALUES ($1, 'inpatient_discharge', 'completed', 'test', 'P', $2,"
                " $1, $1, now(), now(), now(), now() - $3::interval)",
                task_id, DEPT, closed,
            )  # fmt: skip

        async def purged() -> bool:
            rows = await conn.fetch(
                "SELECT task_id FROM followup.follow_up_tasks WHERE task_id = ANY($1)",
                [old, recent],
            )
            return [r["task_id"] for r in rows] == [recent]

        await eventually(purged, timeout=20)
    finally:
        await conn.close()


async def test_two_instances_and_a_kill_9_still_give_every_task_exactly_once(
    followup, api, stack_config, stack_env
) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    with socket.socket() as probe:  # a free port for the second instance
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    second = devstack.start_service(
        stack_config, "followup",
        extra_env={**SERVICE_ENV, "FOLLOWUP_HTTP_PORT": port,
                   "FOLLOWUP_SEED_STAFF": dev_token_roster()},
        log_name="followup-2",
    )  # fmt: skip
    try:
        await devstack.wait_ready_async(f"http://127.0.0.1:{port}", 60)
        events = [in_dept(discharge(n), OTHER_DEPT) for n in unique(400)]
        ids = [f"FU-{e['data']['admission_id']}" for e in events]

        async def tasks_there(wanted: int) -> int | None:
            conn = await asyncpg.connect(stack_env["DATABASE_URL"])
            try:
                n = await conn.fetchval(
                    "SELECT count(*) FROM followup.follow_up_tasks WHERE task_id = ANY($1)", ids
                )
            finally:
                await conn.close()
            return n if n >= wanted else None

        await send(bootstrap, topics.DISCHARGES, *events[:200])
        await eventually(lambda: tasks_there(1), timeout=30, interval=0.05)
        followup.kill9()  # mid-stream: the instances are working through the first 200
        await send(bootstrap, topics.DISCHARGES, *events[200:])
        assert await eventually(lambda: tasks_there(len(ids)), timeout=60) == 400

        async def planned_once() -> dict[str, set[str]] | None:
            wanted = set(ids)
            by_task: dict[str, set[str]] = {}
            for e in json_values(await read_all(bootstrap, topics.FOLLOWUP_TASKS)):
                if e["type"] == "followup.task_planned" and e["data"]["task_id"] in wanted:
                    by_task.setdefault(e["data"]["task_id"], set()).add(e["id"])
            return by_task if len(by_task) == len(wanted) else None

        by_task = await eventually(planned_once, timeout=60)
        assert all(len(event_ids) == 1 for event_ids in by_task.values())
    finally:
        second.terminate()
        try:
            second.wait(15)
        except subprocess.TimeoutExpired:
            second.kill()
        followup.start().wait_ready()  # ready for the tests after this one


async def test_a_transfer_that_takes_a_call_from_its_assignee_is_published(api, stack_env) -> None:  # type: ignore[no-untyped-def]
    """ADT^A02 moves the admission's open call to the new department; its assignee, of the old
    one, hands it back, and `followup.task_transferred` says so (before, nothing was published
    and the other services kept the call with its old department and assignee). The same
    transfer delivered again moves nothing and publishes nothing more."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    [n] = unique()
    task_id = f"FU-A{n:06d}"
    await send(bootstrap, topics.DISCHARGES, in_dept(discharge(n)))
    assigned = await task_in(api, task_id, "assigned")
    assert assigned["assignee_id"] in (DOC1, DOC2)
    patient_id = f"P{n:06d}"
    moved = envelope(
        "patient.transferred",
        {"patient_id": patient_id, "admission_id": f"A{n:06d}",
         "department": {"code": OTHER_DEPT, "name": "转入科"},
         "transferred_at": datetime.now(UTC).isoformat()},
        subject=patient_id,
    )  # fmt: skip
    await send(bootstrap, topics.REGISTRATIONS, moved, moved)  # and delivered again
    [event] = await wait_events(bootstrap, task_id, "followup.task_transferred")
    data = event["data"]
    assert (data["department_code"], data["previous_department_code"]) == (OTHER_DEPT, DEPT)
    assert (data.get("assignee_id"), data["previous_assignee_id"]) == (
        None,
        assigned["assignee_id"],
    )
    assert data["unassigned"] is True and data["status"] == "planned"
    assert data["source_event_id"] == moved["id"]
    await consumed_up_to_here(bootstrap, topics.REGISTRATIONS, patient_id)
    published = await events_of(
        bootstrap, topics.FOLLOWUP_TASKS, task_id, "followup.task_transferred"
    )
    assert len(published) == 1
    assert (await task(api, task_id) or {})["department_code"] == OTHER_DEPT


async def test_an_outcome_from_a_call_screen_of_the_tasks_earlier_life_is_refused(
    api, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """A call screen opened for the first life (attempt 1), the discharge cancelled and entered
    again meanwhile: before, its "not reached" was recorded as the new life's first attempt
    (200; a "reached" would have closed the new life with a call about the old one). The
    screen names the life it showed, and the outcome is refused with the task's life now."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    [n] = unique()
    task_id, now = f"FU-A{n:06d}", datetime.now(UTC)
    first = in_dept(discharge(n, discharged_at=(now - timedelta(hours=2)).isoformat()))
    await send(bootstrap, topics.DISCHARGES, first)
    screen = await task_in(api, task_id, "assigned")  # what the call screen shows
    assert screen["generation"] == 1
    cancel = envelope("discharge.cancelled", {"admission_id": f"A{n:06d}"}, subject=f"P{n:06d}")
    cancel["time"] = (now - timedelta(hours=1)).isoformat()
    await send(bootstrap, topics.DISCHARGES, cancel)
    await task_in(api, task_id, "withdrawn")
    await send(bootstrap, topics.DISCHARGES, in_dept(discharge(n, discharged_at=now.isoformat())))
    again = await task_in(api, task_id, "assigned")
    assert (again["generation"], again["attempts_made"]) == (2, 0)
    token = token_of(again["assignee_id"])
    stale = await outcome(api, task_id, token, reached=False, not_reached_reason="no_answer",
                          attempt=screen["attempts_made"] + 1, generation=screen["generation"])  # fmt: skip
    assert stale.status_code == 409, stale.text
    assert stale.json()["generation"] == 2
    assert "withdrawn and planned again" in stale.json()["detail"]
    kept = await task(api, task_id)
    assert kept is not None and (kept["attempts_made"], kept["attempts"]) == (0, [])
    fresh = await outcome(api, task_id, token, reached=False, not_reached_reason="no_answer",
                          attempt=1, generation=2)  # fmt: skip
    assert (fresh.status_code, fresh.json()["attempts_made"]) == (200, 1), fresh.text


async def put_member(
    api: httpx.AsyncClient, staff_id: str, *, active: bool = True
) -> dict[str, Any]:
    body = {"name": f"测试 {staff_id}", "department_code": LEAVING_DEPT, "role": "doctor",
            "capacity": 50, "active": active}  # fmt: skip
    resp = await api.put(f"/v1/staff/{staff_id}", json=body, headers=auth(ADMIN))
    assert resp.status_code == 200, resp.text
    saved: dict[str, Any] = resp.json()
    return saved


async def test_a_member_made_inactive_hands_back_their_open_calls_once(api, stack_env) -> None:  # type: ignore[no-untyped-def]
    """A doctor with an assigned call, already tried once, is made inactive: before, the call
    stayed theirs (assignment gives only `planned` calls to active staff) and the patient waited
    for a call nobody would make. Now it goes back to be assigned, to the department's other
    doctor, with its attempt still counted, `followup.task_released` naming the roster change;
    the leaver's call screen is refused, and saving them inactive again hands back nothing more."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    await put_member(api, LEAVER)
    [n] = unique()
    task_id = f"FU-A{n:06d}"
    await send(bootstrap, topics.DISCHARGES, in_dept(discharge(n), LEAVING_DEPT))
    assigned = await task_in(api, task_id, "assigned")
    assert assigned["assignee_id"] == LEAVER
    tried = await outcome(api, task_id, "t-leaver", reached=False, not_reached_reason="busy",
                          attempt=1, generation=1)  # fmt: skip
    assert tried.status_code == 200, tried.text
    await put_member(api, STAYER)
    left = await put_member(api, LEAVER, active=False)
    assert (left["changed"], left["handed_back"]) == (True, 1)
    listed = await api.get(f"/v1/staff?department={LEAVING_DEPT}", headers=auth(ADMIN))
    assert {m["staff_id"]: m["open_tasks"] for m in listed.json()["items"]}[LEAVER] == 0

    async def reassigned() -> dict[str, Any] | None:
        found = await task(api, task_id)
        return found if found and found["assignee_id"] == STAYER else None

    moved = await eventually(reassigned, timeout=30, interval=0.3)
    assert (moved["status"], moved["attempts_made"], moved["generation"]) == ("assigned", 1, 1)
    [released] = await wait_events(bootstrap, task_id, "followup.task_released")
    roster_events = json_values(await read_all(bootstrap, topics.STAFF_ROSTER))
    [made_inactive] = [e for e in roster_events if e["data"]["staff_id"] == LEAVER
                       and e["data"]["active"] is False]  # fmt: skip
    assert released["data"] | {"due_at": None} == {
        "task_id": task_id, "kind": "inpatient_discharge", "patient_id": f"P{n:06d}",
        "department_code": LEAVING_DEPT, "previous_assignee_id": LEAVER,
        "reason": "staff_deactivated", "status": "planned", "due_at": None, "attempts_made": 1,
        "source_event_id": made_inactive["id"],
    }  # fmt: skip
    await wait_events(bootstrap, task_id, "followup.task_assigned", n=2)
    stale = await outcome(api, task_id, "t-leaver", reached=True, satisfaction="satisfied",
                          attempt=2, generation=1)  # fmt: skip
    assert stale.status_code in (403, 404), stale.text
    again = await put_member(api, LEAVER, active=False)
    assert (again["changed"], again["handed_back"]) == (False, 0)
    fresh = await outcome(api, task_id, ADMIN, reached=False, not_reached_reason="busy",
                          attempt=2, generation=1)  # fmt: skip
    assert fresh.status_code == 200, fresh.text  # the screen's attempt 2 is the next one
    released_all = await events_of(
        bootstrap, topics.FOLLOWUP_TASKS, task_id, "followup.task_released"
    )
    assert len(released_all) == 1


async def test_a_doctor_made_an_agent_then_operations_hands_back_the_calls_the_role_may_not_make(
    api, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """A doctor holds an ordinary discharge call (an agent's or a doctor's) and one against
    medical advice (a doctor's only), and stays active with another role: before, both stayed
    theirs, and the doctor-only call waited for an agent who may not make it. Made an agent,
    the doctor-only call goes back (`task_released`, `staff_role_changed`) and the ordinary one
    stays; made operations, that one goes too. `GET .../handback` counted each before."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]

    async def save(role: str) -> dict[str, Any]:
        body = {"name": f"测试 {CHANGER}", "department_code": ROLE_DEPT, "role": role,
                "capacity": 50}  # fmt: skip
        resp = await api.put(f"/v1/staff/{CHANGER}", json=body, headers=auth(ADMIN))
        assert resp.status_code == 200, resp.text
        saved: dict[str, Any] = resp.json()
        return saved

    async def would_hand_back(role: str) -> int:
        resp = await api.get(f"/v1/staff/{CHANGER}/handback", params={"role": role},
                             headers=auth(ADMIN))  # fmt: skip
        assert resp.status_code == 200, resp.text
        assert resp.json()["role"] == role
        calls: int = resp.json()["calls"]
        return calls

    await save("doctor")
    ordinary, risky = unique(2)
    await send(
        bootstrap,
        topics.DISCHARGES,
        in_dept(discharge(ordinary), ROLE_DEPT),
        in_dept(discharge(risky, disposition="against_medical_advice"), ROLE_DEPT),
    )
    for n in (ordinary, risky):
        assert (await task_in(api, f"FU-A{n:06d}", "assigned"))["assignee_id"] == CHANGER
    assert await would_hand_back("doctor") == 0
    assert await would_hand_back("agent") == 1
    assert await would_hand_back("admin") == 2
    assert (await save("agent"))["handed_back"] == 1
    [released] = await wait_events(bootstrap, f"FU-A{risky:06d}", "followup.task_released")
    assert (released["data"]["previous_assignee_id"], released["data"]["reason"]) == (
        CHANGER, "staff_role_changed",
    )  # fmt: skip
    kept = await task(api, f"FU-A{ordinary:06d}")
    assert kept is not None and kept["assignee_id"] == CHANGER
    moved = await task(api, f"FU-A{risky:06d}")
    assert moved is not None and moved["assignee_id"] != CHANGER
    assert await would_hand_back("admin") == 1
    assert (await save("admin"))["handed_back"] == 1
    gone = await task(api, f"FU-A{ordinary:06d}")
    assert gone is not None and gone["assignee_id"] != CHANGER
    unknown = await api.get("/v1/staff/NOBODY-X/handback", params={"role": "agent"},
                            headers=auth(ADMIN))  # fmt: skip
    assert unknown.status_code == 404


async def test_a_doctor_moved_to_another_department_hands_back_the_old_departments_calls(
    api, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """A doctor holds a call of their department and one of the department they are about to
    move to (given them by operations), and moves: before, both stayed theirs, and the old
    department's patient waited for a doctor no longer on its roster. Now the old department's
    call goes back to be assigned (`task_released`, `staff_department_changed`) and the new
    department's stays; `GET .../handback?department=` counted it before."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]

    async def save(department: str) -> dict[str, Any]:
        body = {"name": f"测试 {MOVER}", "department_code": department, "role": "doctor",
                "capacity": 50}  # fmt: skip
        resp = await api.put(f"/v1/staff/{MOVER}", json=body, headers=auth(ADMIN))
        assert resp.status_code == 200, resp.text
        saved: dict[str, Any] = resp.json()
        return saved

    async def would_hand_back(department: str, role: str = "doctor") -> int:
        params = {"role": role, "department": department}
        resp = await api.get(f"/v1/staff/{MOVER}/handback", params=params, headers=auth(ADMIN))
        assert resp.status_code == 200, resp.text
        calls: int = resp.json()["calls"]
        return calls

    await save(FROM_DEPT)
    old, new = unique(2)
    await send(bootstrap, topics.DISCHARGES, in_dept(discharge(old), FROM_DEPT),
               in_dept(discharge(new), TO_DEPT))  # fmt: skip
    old_id, new_id = f"FU-A{old:06d}", f"FU-A{new:06d}"
    assert (await task_in(api, old_id, "assigned"))["assignee_id"] == MOVER
    await task_in(api, new_id, "planned", "assigned")  # nobody in TO_DEPT: the fallback's
    resp = await api.post(f"/v1/tasks/{new_id}/assignment", json={"assignee_id": MOVER},
                          headers=auth(ADMIN))  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert await would_hand_back(FROM_DEPT) == 0
    counted = [await would_hand_back(TO_DEPT), await would_hand_back(TO_DEPT, role="agent")]
    assert (await save(TO_DEPT))["handed_back"] == 1
    assert counted == [1, 1]  # as an agent too: an ordinary call, its department's
    [released] = await wait_events(bootstrap, old_id, "followup.task_released")
    assert (released["data"]["previous_assignee_id"], released["data"]["reason"]) == (
        MOVER, "staff_department_changed",
    )  # fmt: skip
    assert released["data"]["department_code"] == FROM_DEPT
    moved = await task(api, old_id)
    assert moved is not None and moved["assignee_id"] != MOVER
    kept = await task(api, new_id)
    assert kept is not None and kept["assignee_id"] == MOVER
    assert await would_hand_back(FROM_DEPT) == 1  # moving back would hand the new one back
