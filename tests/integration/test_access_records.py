"""Access records on the real stack: a read through each route that answers with a patient's
data appears exactly once per patient with the reader's staff id and reason; a refused read is
recorded as denied; the services' database role cannot change or delete a record; many reads
outside a reader's department raise the unusual-access gauge.

Each request carries its own `X-Access-Reason` (a fresh marker), which picks out its rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from followup.settings import DEFAULT_SEED_STAFF
from hospital_shared import topics
from hospital_shared.auth import DEV_TOKENS
from tests.access_routes import AUDITED
from tests.factories import discharge
from tests.integration.services import RunningService, running_all
from tests.integration.test_followup_service import send, unique
from tests.integration.test_notifications_sms import BASE_ENV, reminder_event, send_events
from tests.integration.test_notifications_sms import unique as notification_unique
from tests.kafka_tools import eventually

RUN = uuid.uuid4().hex[:6].upper()
DEPT, ELSEWHERE = f"AR{RUN}", f"AX{RUN}"
DOC, SUP, OUTSIDER = f"ARD-{RUN}", f"ARS-{RUN}", f"ARX-{RUN}"
TOKENS = {
    **{token: p.model_dump(mode="json") for token, p in DEV_TOKENS.items()},
    "t-doc": {"role": "doctor", "staff_id": DOC, "department": DEPT},
    "t-sup": {"role": "supervisor", "staff_id": SUP, "department": DEPT},
    "t-outsider": {"role": "supervisor", "staff_id": OUTSIDER, "department": ELSEWHERE},
}
UNUSUAL_PATIENTS = 3
FOLLOWUP_ENV = {
    "AUTH_TOKENS": json.dumps(TOKENS),
    # Only the development tokens' staff, whom the complaints service seeds too: the full dev
    # roster (a second desk agent, cardiology's ward supervisor) would reach the complaints
    # service through the roster topic and change whom the later complaints tests' cases go to.
    "FOLLOWUP_SEED_STAFF": json.dumps(
        [s for s in DEFAULT_SEED_STAFF if s["staff_id"] in {"S-AGENT-01", "S-SUP-01", "S-DOC-01"}]
    ),
    "FOLLOWUP_SCAN_INTERVAL_S": "0.5",
    "FOLLOWUP_ASSIGN_INTERVAL_S": "0.3",
    "ACCESS_UNUSUAL_PATIENTS": str(UNUSUAL_PATIENTS),
    "ACCESS_WATCH_INTERVAL_S": "0.5",
}
ADMIN = "dev-admin-token"
READ_ROUTES: set[tuple[str, str]] = set()  # (method, path) walked here, checked at the end


def as_(token: str, reason: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if reason:
        headers["X-Access-Reason"] = reason
    return headers


def marker() -> str:
    return f"test {uuid.uuid4().hex}"


async def rows_for(db: asyncpg.Connection, schema: str, reason: str) -> list[asyncpg.Record]:
    return await db.fetch(
        f"SELECT * FROM {schema}.access_records WHERE reason = $1 ORDER BY id", reason
    )


@pytest.fixture(scope="module")
async def db(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    yield conn
    await conn.close()


@pytest.fixture(scope="module")
def started(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    """The three services this module reads through, started together (one after the other,
    they took 15 s of the suite)."""
    env = {"followup": FOLLOWUP_ENV, "notifications": dict(BASE_ENV)}
    with running_all(stack_config, ["followup", "complaints", "notifications"], env) as s:
        yield s


@pytest.fixture(scope="module")
def followup(started: dict[str, RunningService]) -> RunningService:
    return started["followup"]


@pytest.fixture(scope="module")
async def tasks(followup: RunningService, stack_env, db) -> AsyncIterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Two patients' tasks, assigned to DOC in DEPT; one of them overdue."""
    async with httpx.AsyncClient(base_url=followup.url, timeout=10) as client:
        for staff_id, role, dept in ((DOC, "doctor", DEPT), (SUP, "supervisor", DEPT)):
            body = {"name": f"测试 {staff_id}", "department_code": dept, "role": role,
                    "capacity": 50}  # fmt: skip
            resp = await client.put(f"/v1/staff/{staff_id}", json=body, headers=as_(ADMIN))
            assert resp.status_code == 200, resp.text
        long_ago = (datetime.now(UTC) - timedelta(days=10)).isoformat()
        n, m = unique(2)
        dept = {"code": DEPT, "name": "测试科"}
        await send(
            stack_env["KAFKA_BOOTSTRAP_SERVERS"],
            topics.DISCHARGES,
            discharge(n, department=dept),
            discharge(m, department=dept, discharged_at=long_ago),
        )
        ids = [f"FU-A{n:06d}", f"FU-A{m:06d}"]

        async def assigned() -> list[asyncpg.Record] | None:
            rows = await db.fetch(
                "SELECT task_id, patient_id, assignee_id FROM followup.follow_up_tasks"
                " WHERE task_id = ANY($1) AND assignee_id IS NOT NULL ORDER BY task_id",
                ids,
            )
            return rows if len(rows) == 2 else None

        rows = await eventually(assigned, timeout=30, interval=0.3)
        yield {"client": client, "rows": rows}


async def read(
    client: httpx.AsyncClient, method: str, path: str, token: str, **kwargs: Any
) -> tuple[httpx.Response, str]:
    reason = marker()
    route = kwargs.pop("route", path)
    READ_ROUTES.add((method, route))
    resp = await client.request(method, path, headers=as_(token, reason), **kwargs)
    return resp, reason


async def test_each_follow_up_read_is_recorded_once_per_patient_with_the_reader(tasks, db) -> None:  # type: ignore[no-untyped-def]
    client, rows = tasks["client"], tasks["rows"]
    assert {r["assignee_id"] for r in rows} == {DOC}
    patients = {r["patient_id"]: r["task_id"] for r in rows}
    first = rows[0]

    resp, reason = await read(
        client, "GET", "/v1/tasks", "t-doc", params={"patient_id": first["patient_id"]}
    )
    assert resp.status_code == 200, resp.text
    [row] = await rows_for(db, "followup", reason)
    assert (row["staff_id"], row["role"], row["patient_id"]) == (DOC, "doctor", first["patient_id"])
    assert (list(row["record_ids"]), row["outcome"], row["in_scope"]) == (
        [first["task_id"]],
        "granted",
        True,
    )
    assert (row["service"], row["route"], row["record_kind"]) == (
        "followup",
        "/v1/tasks",
        "follow_up_task",
    )
    assert row["client_addr"] == "127.0.0.1"

    resp, reason = await read(
        client, "GET", f"/v1/tasks/{first['task_id']}", "t-doc", route="/v1/tasks/{task_id}"
    )
    assert resp.status_code == 200
    assert [(r["staff_id"], r["patient_id"]) for r in await rows_for(db, "followup", reason)] == [
        (DOC, first["patient_id"])
    ]

    resp, reason = await read(client, "GET", "/v1/worklist", "t-doc")
    assert resp.status_code == 200
    got = {r["patient_id"]: list(r["record_ids"]) for r in await rows_for(db, "followup", reason)}
    assert got == {p: [t] for p, t in patients.items()}

    resp, reason = await read(
        client, "GET", f"/v1/departments/{DEPT}/overview", "t-sup",
        route="/v1/departments/{code}/overview",
    )  # fmt: skip
    shown = {x["patient"]["patient_id"] for x in resp.json()["overdue"] + resp.json()["unassigned"]}
    recorded = await rows_for(db, "followup", reason)
    assert shown and {r["patient_id"] for r in recorded} == shown
    assert len(recorded) == len(shown) and {r["staff_id"] for r in recorded} == {SUP}


async def test_a_refused_task_read_is_recorded_as_denied(tasks, db) -> None:  # type: ignore[no-untyped-def]
    first = tasks["rows"][0]
    resp, reason = await read(
        tasks["client"], "GET", f"/v1/tasks/{first['task_id']}", "t-outsider",
        route="/v1/tasks/{task_id}",
    )  # fmt: skip
    assert resp.status_code == 404
    [row] = await rows_for(db, "followup", reason)
    assert (row["staff_id"], row["patient_id"], row["outcome"], row["in_scope"]) == (
        OUTSIDER,
        first["patient_id"],
        "denied",
        False,
    )


async def test_a_supervisors_look_at_another_departments_calls_is_recorded_as_denied(
    tasks, db
) -> None:  # type: ignore[no-untyped-def]
    """A refused read is a row too (README): another department's worklists and overview were
    refused with no trace, so probing them left none."""
    client = tasks["client"]
    asked = [
        (f"/v1/worklist?staff_id={DOC}", "/v1/worklist", "worklist", DOC),
        (f"/v1/departments/{DEPT}/overview", "/v1/departments/{code}/overview", "department", DEPT),
    ]
    for path, route, kind, of in asked:
        resp, reason = await read(client, "GET", path, "t-outsider", route=route)
        assert resp.status_code == 403, path
        [row] = await rows_for(db, "followup", reason)
        assert (row["staff_id"], row["outcome"], row["record_kind"], row["record_ids"]) == (
            OUTSIDER, "denied", kind, [of],
        ), path  # fmt: skip


async def test_supervisors_list_access_records_by_patient_and_by_staff(tasks, db) -> None:  # type: ignore[no-untyped-def]
    client, first = tasks["client"], tasks["rows"][0]
    _, reason = await read(client, "GET", f"/v1/tasks/{first['task_id']}", "t-doc",
                              route="/v1/tasks/{task_id}")  # fmt: skip
    by_patient = await client.get(
        "/v1/access-records", params={"patient_id": first["patient_id"]}, headers=as_("t-sup")
    )
    assert by_patient.status_code == 200
    assert reason in {r["reason"] for r in by_patient.json()["items"]}
    by_staff = await client.get("/v1/access-records", params={"staff_id": DOC}, headers=as_(ADMIN))
    assert {r["staff_id"] for r in by_staff.json()["items"]} == {DOC}
    refused = await client.get("/v1/access-records", params={"staff_id": DOC}, headers=as_("t-doc"))
    assert refused.status_code == 403
    # another department's supervisor: not the reads of this department's staff
    outsider = await client.get(
        "/v1/access-records", params={"patient_id": first["patient_id"]},
        headers=as_("t-outsider"),
    )  # fmt: skip
    assert outsider.status_code == 200
    assert {r["department"] for r in outsider.json()["items"]} <= {ELSEWHERE}  # their own
    # and each listing is on record, as a read of the patients it named
    listed = await db.fetch(
        "SELECT staff_id, patient_id, record_ids FROM followup.access_records"
        " WHERE record_kind = 'access_records' AND staff_id = ANY($1::text[])",
        [SUP, OUTSIDER],
    )
    assert {(r["staff_id"], r["patient_id"]) for r in listed} == {
        (SUP, first["patient_id"]),
        (OUTSIDER, first["patient_id"]),
    }
    seen = [str(r["id"]) for r in outsider.json()["items"]] or ["*"]
    assert next(r for r in listed if r["staff_id"] == OUTSIDER)["record_ids"] == seen


async def test_access_records_page_by_cursor_newest_first(tasks) -> None:  # type: ignore[no-untyped-def]
    """A page at a time by the `next` link: every record once, newest first, the same list
    as one page holding them all; a forged cursor is a 422 naming `cursor`."""
    client, first = tasks["client"], tasks["rows"][0]
    for _ in range(3):
        await read(client, "GET", f"/v1/tasks/{first['task_id']}", "t-doc",
                   route="/v1/tasks/{task_id}")  # fmt: skip
    url: str | None = f"/v1/access-records?staff_id={DOC}&limit=2"
    paged = []
    while url is not None:
        resp = await client.get(url, headers=as_(ADMIN))
        assert resp.status_code == 200, resp.text
        assert resp.json()["limit"] == 2
        paged += resp.json()["items"]
        url = resp.json()["next"]
    whole = await client.get(
        "/v1/access-records", params={"staff_id": DOC, "limit": 1000}, headers=as_(ADMIN)
    )
    assert whole.json()["next"] is None
    assert [r["id"] for r in paged] == [r["id"] for r in whole.json()["items"]]
    assert len(paged) >= 3
    assert [r["at"] for r in paged] == sorted((r["at"] for r in paged), reverse=True)
    forged = await client.get(
        "/v1/access-records", params={"staff_id": DOC, "cursor": "eyJhdCI6MSwiaWQiOjF9"},
        headers=as_(ADMIN),
    )  # fmt: skip
    assert forged.status_code == 422
    assert forged.json()["errors"][0]["location"] == ["query", "cursor"]


async def test_the_services_role_cannot_update_delete_or_truncate_access_records(tasks, db) -> None:  # type: ignore[no-untyped-def]
    """`db` connects as the services do (DATABASE_URL): the trigger refuses every change."""
    for sql in (
        "UPDATE followup.access_records SET staff_id = 'someone else'",
        "DELETE FROM followup.access_records",
        "TRUNCATE followup.access_records",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await db.execute(sql)
    assert await db.fetchval("SELECT count(*) FROM followup.access_records") > 0


async def test_reading_many_patients_outside_ones_department_raises_the_unusual_access_gauge(
    followup, tasks, db
) -> None:  # type: ignore[no-untyped-def]
    """The outsider (a supervisor of another department) reads more distinct patients than the
    limit: the watch job names them and the gauge the alert watches turns 1."""
    client = tasks["client"]
    reason = marker()
    for row in tasks["rows"]:
        await client.get(f"/v1/tasks/{row['task_id']}", headers=as_("t-outsider", reason))
    # More patients than the limit in all: earlier reads of theirs, as the route writes them.
    await db.execute(
        """INSERT INTO followup.access_records (service, staff_id, role, patient_id, record_kind,
               record_ids, outcome, in_scope, route)
           SELECT 'followup', $1, 'supervisor', 'PX-' || g, 'follow_up_task', ARRAY['x'],
                  'denied', false, '/v1/tasks/{task_id}' FROM generate_series(1, $2) g""",
        OUTSIDER,
        UNUSUAL_PATIENTS,
    )

    # operations look through the outsider's log, which names all those patients: a look
    # through the log is recorded, but it does not make the auditor an unusual reader
    listed = await client.get(
        "/v1/access-records", params={"staff_id": OUTSIDER, "limit": 1000}, headers=as_(ADMIN)
    )
    assert len({r["patient_id"] for r in listed.json()["items"]}) > UNUSUAL_PATIENTS
    unusual_now: list[dict[str, Any]] = []

    async def named() -> list[dict[str, Any]] | None:
        resp = await client.get("/v1/access-records/unusual", headers=as_(ADMIN))
        unusual_now[:] = resp.json()["unusual"]
        found = [u for u in unusual_now if u["staff_id"] == OUTSIDER]
        return found or None

    [unusual] = await eventually(named, timeout=30, interval=0.5)
    assert unusual["patients"] > UNUSUAL_PATIENTS
    assert DEV_TOKENS[ADMIN].staff_id not in {u["staff_id"] for u in unusual_now}

    async def gauge() -> bool:
        text = (await client.get("/metrics")).text
        return 'hospital_access_unusual_readers{service="followup"} 1.0' in text

    assert await eventually(gauge, timeout=30, interval=0.5)
    assert {r["staff_id"] for r in await rows_for(db, "followup", reason)} == {OUTSIDER}


# --- complaints ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def complaints(started: dict[str, RunningService]) -> RunningService:
    return started["complaints"]


@pytest.fixture(scope="module")
async def case(complaints: RunningService) -> AsyncIterator[dict[str, Any]]:
    """A desk case of the customer-service centre, opened by its supervisor (S-SUP-01)."""
    async with httpx.AsyncClient(base_url=complaints.url, timeout=10) as client:
        body = {
            "channel": "phone",
            "description": "候诊排队等了三个小时",
            "patient": {"patient_id": f"P-AR{uuid.uuid4().hex[:8]}", "name": "李四",
                        "phone": "13900139000"},
            "department": {"code": "CS", "name": "客服中心"},
        }  # fmt: skip
        resp, reason = await read(client, "POST", "/v1/cases", "dev-supervisor-token", json=body)
        assert resp.status_code == 201, resp.text
        yield {"client": client, "view": resp.json(), "opened_reason": reason}


def only(rows: list[asyncpg.Record]) -> tuple[str, str, list[str], str]:
    [row] = rows
    return row["staff_id"], row["patient_id"], list(row["record_ids"]), row["outcome"]


async def test_each_complaint_case_read_is_recorded_once_with_the_reader(case, db) -> None:  # type: ignore[no-untyped-def]
    client, view = case["client"], case["view"]
    number, patient_id = view["case_number"], view["patient"]["patient_id"]
    granted = ("S-SUP-01", patient_id, [number], "granted")
    assert only(await rows_for(db, "complaints", case["opened_reason"])) == granted

    walk: list[tuple[str, str, str, dict[str, Any]]] = [
        ("GET", "/v1/cases", "/v1/cases", {"params": {"patient_id": patient_id}}),
        ("GET", f"/v1/cases/{number}", "/v1/cases/{number}", {}),
        ("GET", f"/v1/cases/{number}/audit", "/v1/cases/{number}/audit", {}),
        ("POST", f"/v1/cases/{number}/transitions", "/v1/cases/{number}/transitions",
         {"json": {"to": "acknowledged", "note": "已电话联系患者"}}),
        ("POST", f"/v1/cases/{number}/assignment", "/v1/cases/{number}/assignment",
         {"json": {"assignee_id": "S-AGENT-01"}}),
    ]  # fmt: skip
    for method, path, route, kwargs in walk:
        resp, reason = await read(
            client, method, path, "dev-supervisor-token", route=route, **kwargs
        )
        assert resp.status_code == 200, (path, resp.text)
        assert only(await rows_for(db, "complaints", reason)) == granted, path

    resp, reason = await read(
        client, "GET", "/v1/cases", "dev-admin-token", params={"patient_id": patient_id},
        route="/v1/cases",
    )  # fmt: skip
    assert only(await rows_for(db, "complaints", reason))[0] == "S-ADMIN-01"


async def test_a_refused_case_read_is_recorded_as_denied(case, db) -> None:  # type: ignore[no-untyped-def]
    """The cardiology ward's supervisor may not read the customer-service centre's case."""
    number = case["view"]["case_number"]
    resp, reason = await read(
        case["client"], "GET", f"/v1/cases/{number}", "dev-ward-supervisor-token",
        route="/v1/cases/{number}",
    )  # fmt: skip
    assert resp.status_code == 403
    patient_id = case["view"]["patient"]["patient_id"]
    assert only(await rows_for(db, "complaints", reason)) == (
        "S-SUP-02",
        patient_id,
        [number],
        "denied",
    )


# --- enquiries and feedback (complaints service) ----------------------------------------

AGENT, DOCTOR, SUPERVISOR = "dev-agent-token", "dev-doctor-token", "dev-supervisor-token"


def kinds(rows: list[asyncpg.Record]) -> dict[str, tuple[str, str, list[str], str]]:
    """{record kind: (staff, patient, record ids, outcome)}, each kind (and patient) once."""
    got = {r["record_kind"]: (r["staff_id"], r["patient_id"], sorted(r["record_ids"]),
                              r["outcome"]) for r in rows}  # fmt: skip
    assert len(got) == len(rows), "a kind recorded twice for one request"
    return got


async def take_enquiry(
    client: httpx.AsyncClient, token: str, patient_id: str, department: str
) -> tuple[str, str]:
    """An enquiry of `patient_id` taken by `token`'s staff: (its number, the read's marker)."""
    body = {
        "channel": "phone",
        "question": "请问住院押金怎么退？",
        "patient": {"patient_id": patient_id, "name": "赵六", "phone": "13600136000"},
        "department": {"code": department},
    }
    resp, reason = await read(client, "POST", "/v1/enquiries", token, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()["enquiry_number"], reason


@pytest.fixture(scope="module")
async def enquiries(case, db) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Two enquiries of one patient, asked about DEPT and taken by the agent (S-AGENT-01); each
    taking is itself a read of the enquiry answered with."""
    client, patient_id = case["client"], f"P-AE{uuid.uuid4().hex[:8]}"
    taken = [await take_enquiry(client, AGENT, patient_id, DEPT) for _ in range(2)]
    for number, reason in taken:
        assert kinds(await rows_for(db, "complaints", reason)) == {
            "enquiry": ("S-AGENT-01", patient_id, [number], "granted")
        }
    return {"client": client, "patient_id": patient_id, "numbers": [n for n, _ in taken]}


async def test_each_enquiry_read_is_recorded_once_per_patient_with_the_reader(
    enquiries, db
) -> None:  # type: ignore[no-untyped-def]
    client, pid, (first, second) = (
        enquiries["client"],
        enquiries["patient_id"],
        enquiries["numbers"],
    )

    def one(staff: str, *numbers: str) -> dict[str, tuple[str, str, list[str], str]]:
        return {"enquiry": (staff, pid, sorted(numbers), "granted")}

    resp, reason = await read(client, "GET", "/v1/enquiries", ADMIN, params={"department": DEPT})
    assert {e["enquiry_number"] for e in resp.json()["items"]} == {first, second}
    assert kinds(await rows_for(db, "complaints", reason)) == one("S-ADMIN-01", first, second)

    walk: list[tuple[str, str, str, str, dict[str, Any]]] = [
        (AGENT, "GET", f"/v1/enquiries/{first}", "/v1/enquiries/{number}", {}),
        (AGENT, "POST", f"/v1/enquiries/{first}/handover", "/v1/enquiries/{number}/handover",
         {"json": {"to": "S-DOC-01", "reason": "需医生解答"}}),
        (DOCTOR, "POST", f"/v1/enquiries/{first}/answer", "/v1/enquiries/{number}/answer",
         {"json": {"answer": "凭押金条到出院结算处办理"}}),
    ]  # fmt: skip
    for token, method, path, route, kwargs in walk:
        resp, reason = await read(client, method, path, token, route=route, **kwargs)
        assert resp.status_code == 200, (path, resp.text)
        staff = "S-DOC-01" if token == DOCTOR else "S-AGENT-01"
        assert kinds(await rows_for(db, "complaints", reason)) == one(staff, first), path


async def test_an_enquiry_turned_into_a_complaint_records_both_once(enquiries, db) -> None:  # type: ignore[no-untyped-def]
    """The customer-service supervisor takes one about the centre and converts it: the answer
    holds the enquiry and the new case, one record of each for the patient."""
    client, pid = enquiries["client"], enquiries["patient_id"]
    number, _ = await take_enquiry(client, SUPERVISOR, pid, "CS")
    resp, reason = await read(
        client, "POST", f"/v1/enquiries/{number}/complaint", SUPERVISOR,
        route="/v1/enquiries/{number}/complaint", json={"note": "患者要求投诉"},
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    case_number = resp.json()["case"]["case_number"]
    assert resp.json()["case"]["patient"]["patient_id"] == pid  # the case in full
    assert kinds(await rows_for(db, "complaints", reason)) == {
        "enquiry": ("S-SUP-01", pid, [number], "granted"),
        "complaint_case": ("S-SUP-01", pid, [case_number], "granted"),
    }


async def test_a_refused_enquiry_read_is_recorded_as_denied(enquiries, db) -> None:  # type: ignore[no-untyped-def]
    """The cardiology ward's supervisor neither took, owns nor supervises it."""
    number, ward = enquiries["numbers"][1], "dev-ward-supervisor-token"
    path, route = f"/v1/enquiries/{number}", "/v1/enquiries/{number}"
    resp, reason = await read(enquiries["client"], "GET", path, ward, route=route)
    refused = ("S-SUP-02", enquiries["patient_id"], [number], "denied")
    assert resp.status_code == 403
    assert kinds(await rows_for(db, "complaints", reason)) == {"enquiry": refused}


async def test_each_feedback_read_is_recorded_once_with_the_reader(case, db) -> None:  # type: ignore[no-untyped-def]
    client, pid = case["client"], f"P-AF{uuid.uuid4().hex[:8]}"
    body = {
        "kind": "suggestion",
        "text": "建议住院部增加陪护床",
        "department": {"code": DEPT},
        "patient": {"patient_id": pid, "name": "钱七", "phone": "13500135000"},
    }
    resp, reason = await read(client, "POST", "/v1/feedback", AGENT, json=body)
    assert resp.status_code == 201, resp.text
    number = resp.json()["feedback_number"]

    def one(staff: str) -> dict[str, tuple[str, str, list[str], str]]:
        return {"feedback": (staff, pid, [number], "granted")}

    assert kinds(await rows_for(db, "complaints", reason)) == one("S-AGENT-01")
    resp, reason = await read(client, "GET", "/v1/feedback", ADMIN, params={"department": DEPT})
    assert [f["feedback_number"] for f in resp.json()["items"]] == [number]
    assert kinds(await rows_for(db, "complaints", reason)) == one("S-ADMIN-01")
    resp, reason = await read(
        client, "POST", f"/v1/feedback/{number}/answer", AGENT,
        route="/v1/feedback/{number}/answer", json={"answer": "已采纳", "outcome": "adopted"},
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert kinds(await rows_for(db, "complaints", reason)) == one("S-AGENT-01")
    path, route = f"/v1/feedback/{number}", "/v1/feedback/{number}"
    resp, reason = await read(client, "GET", path, AGENT, route=route)
    assert resp.status_code == 200, resp.text
    assert kinds(await rows_for(db, "complaints", reason)) == one("S-AGENT-01")
    # the cardiology ward's supervisor: neither recorded nor praised, not their department
    resp, reason = await read(client, "GET", path, "dev-ward-supervisor-token", route=route)
    assert resp.status_code == 403
    assert kinds(await rows_for(db, "complaints", reason)) == {
        "feedback": ("S-SUP-02", pid, [number], "denied")
    }


# --- notifications ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def notifications(started: dict[str, RunningService]) -> RunningService:
    return started["notifications"]


@pytest.fixture(scope="module")
async def message(notifications: RunningService, stack_env, db) -> AsyncIterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """A patient's appointment reminder, waiting (the visit is three days away)."""
    n, dept = notification_unique()
    await send_events(stack_env, topics.REGISTRATIONS, reminder_event(n, dept, hours_ahead=72))
    patient_id = f"P{n:06d}"

    async def stored() -> asyncpg.Record | None:
        return await db.fetchrow(
            "SELECT id, patient_id FROM notifications.messages WHERE patient_id = $1", patient_id
        )

    row = await eventually(stored, timeout=30, interval=0.3)
    async with httpx.AsyncClient(base_url=notifications.url, timeout=10) as client:
        yield {"client": client, "id": str(row["id"]), "patient_id": patient_id}


async def test_each_message_read_is_recorded_once_with_the_reader(message, db) -> None:  # type: ignore[no-untyped-def]
    client, pid, mid = message["client"], message["patient_id"], message["id"]
    resp, reason = await read(
        client, "GET", "/v1/messages", "dev-supervisor-token", params={"patient_id": pid}
    )
    assert resp.status_code == 200 and [m["id"] for m in resp.json()["items"]] == [mid]
    assert only(await rows_for(db, "notifications", reason)) == ("S-SUP-01", pid, [mid], "granted")

    resp, reason = await read(
        client, "GET", f"/v1/messages/{mid}", "dev-admin-token", route="/v1/messages/{message_id}"
    )
    assert resp.status_code == 200
    assert only(await rows_for(db, "notifications", reason)) == (
        "S-ADMIN-01",
        pid,
        [mid],
        "granted",
    )

    added = await client.post(
        "/v1/opt-outs", json={"patient_id": pid}, headers=as_("dev-agent-token")
    )
    assert added.status_code == 201
    resp, reason = await read(
        client, "GET", "/v1/opt-outs", "dev-supervisor-token", params={"patient_id": pid}
    )
    assert resp.status_code == 200
    assert only(await rows_for(db, "notifications", reason)) == (
        "S-SUP-01",
        pid,
        [str(added.json()["id"])],
        "granted",
    )


async def test_a_refused_message_listing_is_recorded_as_denied(message, db) -> None:  # type: ignore[no-untyped-def]
    pid = message["patient_id"]
    resp, reason = await read(
        message["client"], "GET", "/v1/messages", "dev-agent-token", params={"patient_id": pid}
    )
    assert resp.status_code == 403
    assert only(await rows_for(db, "notifications", reason)) == ("S-AGENT-01", pid, ["*"], "denied")


async def test_a_refused_opt_out_listing_is_recorded_as_denied(message, db) -> None:  # type: ignore[no-untyped-def]
    """A patient's opt-outs are their history, for supervisors and operations: a doctor's
    look is refused and, like a refused message listing, recorded (it was not, before)."""
    pid = message["patient_id"]
    resp, reason = await read(
        message["client"], "GET", "/v1/opt-outs", "dev-doctor-token", params={"patient_id": pid}
    )
    assert resp.status_code == 403
    assert only(await rows_for(db, "notifications", reason)) == ("S-DOC-01", pid, ["*"], "denied")


async def test_a_read_the_role_may_not_take_at_all_is_recorded_as_denied(message, db) -> None:  # type: ignore[no-untyped-def]
    """The role check refuses before the route runs (an agent may not resend a patient's SMS,
    and the answer would be the message): recorded as denied, with the record the path
    names; it wrote nothing before."""
    mid = message["id"]
    resp, reason = await read(
        message["client"], "POST", f"/v1/messages/{mid}/resend", "dev-agent-token",
        route="/v1/messages/{message_id}/resend",
    )  # fmt: skip
    assert resp.status_code == 403
    assert only(await rows_for(db, "notifications", reason)) == (
        "S-AGENT-01",
        None,
        [mid],
        "denied",
    )


# Routes the walk above does not drive, with why; each is covered by the same call as a route
# it does drive (the rendering of a case, the view of a message).
NOT_WALKED = {
    ("complaints", "POST", "/v1/cases/{number}/satisfaction"): "needs a closed case; render()",
    # The procedure steps (procedure_api.py) answer through api.run -> render(), as the
    # transitions route the walk drives; each needs a case at its own step.
    **{
        ("complaints", "POST", f"/v1/cases/{{number}}/{step}"): "a procedure step; render()"
        for step in (
            "validity",
            "escalation",
            "imaging-confirmation",
            "accountability",
            "settlement",
            "confidentiality",
            "notes",
        )
    },
    ("notifications", "POST", "/v1/messages/{message_id}/resend"): "needs a failed SMS",
    ("notifications", "GET", "/v1/inbox"): "staff notes: message_reads, as /v1/messages",
    ("notifications", "POST", "/v1/inbox/{message_id}/read"): "as /v1/inbox",
    ("notifications", "GET", "/v1/sms/unsettled"): "needs an SMS of unknown outcome",
    # task_reads, as /v1/worklist; their records are checked in test_followup_take.py
    ("followup", "GET", "/v1/worklist/available"): "needs unassigned tasks; test_followup_take",
    ("followup", "POST", "/v1/tasks/{task_id}/take"): "needs unassigned tasks; test_followup_take",
    ("followup", "POST", "/v1/tasks/{task_id}/assignment"): "test_followup_service (access)",
    # registration's patient search: its records are checked in test_registration_patients.py
    ("registration", "GET", "/v1/patients"): "test_registration_patients",
    ("registration", "GET", "/v1/patients/{patient_id}/visits"): "test_registration_patients",
    # the access log itself, the same route in every service (hospital_shared.access_watch)
    **{
        (service, "GET", "/v1/access-records"): "test_supervisors_list_access_records_..."
        for service in ("registration", "followup", "complaints", "notifications", "metrics")
    },
}


def test_the_walk_covered_every_audited_route_but_those_said() -> None:
    services = {"followup", "complaints", "notifications"}
    walked = {(s, m, p) for s in services for m, p in READ_ROUTES if (s, m, p) in AUDITED}
    assert set(AUDITED) - walked - set(NOT_WALKED) == set()


async def test_only_the_retention_purge_deletes_and_it_records_that_it_did(tasks, db) -> None:  # type: ignore[no-untyped-def]
    """A record older than the retention (3 years by default) goes at the watch job's next
    pass, and the purge leaves a row of its own saying how many and before when."""
    expired = await db.fetchval(
        """INSERT INTO followup.access_records (at, service, staff_id, role, patient_id,
               record_kind, record_ids, outcome, in_scope, route)
           VALUES (now() - interval '1100 days', 'followup', $1, 'doctor', 'P-OLD',
                   'follow_up_task', ARRAY['x'], 'granted', true, '/v1/tasks') RETURNING id""",
        DOC,
    )

    async def purged() -> asyncpg.Record | None:
        if await db.fetchval("SELECT count(*) FROM followup.access_records WHERE id = $1", expired):
            return None
        return await db.fetchrow(
            "SELECT * FROM followup.access_records WHERE outcome = 'purged' AND id > $1"
            " ORDER BY id LIMIT 1",
            expired,
        )

    row = await eventually(purged, timeout=30, interval=0.5)
    assert (row["role"], row["record_kind"], row["staff_id"]) == ("system", "access_records", None)
    assert int(row["record_ids"][0]) >= 1 and row["reason"].startswith("retention 1096 days")
