"""A member of staff made inactive on the follow-up service's roster hands back their open
complaint cases, on the real Kafka and PostgreSQL: each goes to an active member of its
department, by the system, audited and announced once; a finished case stays as it was; the
same roster change again, or the same event redelivered, changes nothing. And against the real
PostgreSQL's locks: an opening under way when the member is made inactive is waited for and its
case handed back too; a case a supervisor is withdrawing at that moment stays withdrawn. A
closed case reopened after its handler left goes to an active member too, and a reopening under
way when its handler is made inactive is waited for; the open cases of a supervisor made
inactive get another supervisor. Open enquiries go back with the cases (with nobody active: no
owner, not someone who left); a member given a role that may not hold some of their work hands
back just that."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from complaints import (
    cases,
    enquiry_cases,
    enquiry_handback,
    enquiry_store,
    handback,
    repository,
    roster,
)
from complaints.access import SYSTEM, Actor
from complaints.enquiries import EnquiryChannel, default_limits
from complaints.enquiry_cases import EnquiryPolicy, NewEnquiry
from complaints.enquiry_timer import enquiry_timer_pass
from complaints.intake import NewComplaint, number_allocator, open_case
from complaints.policy import CasePolicy, default_rules
from complaints.rulebook import category_rules, seed_rules
from hospital_shared import topics
from hospital_shared.vocabulary import Satisfaction, SystemNote
from tests.factories import envelope, to_bytes
from tests.integration.schemas import schema_pool
from tests.integration.services import RunningService
from tests.kafka_tools import eventually, json_values, publish, read_all

POLICY = CasePolicy(limit_rules=default_rules(), tz=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def complaints(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    service = RunningService(stack_config, "complaints").start()
    service.wait_ready()
    yield service
    service.stop()


@pytest.fixture(scope="module")
async def http(complaints: RunningService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=complaints.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def tokens(stack_env: dict[str, str]) -> dict[str, dict[str, str]]:
    return {
        r: {"Authorization": f"Bearer {stack_env[f'TOKEN_{r.upper()}']}"}
        for r in ("agent", "admin")
    }


@contextlib.asynccontextmanager
async def db(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the complaints service's own schema."""
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "complaints"})
    try:
        yield conn
    finally:
        await conn.close()


def member_saved(staff_id: str, dept: str, role: str, *, active: bool = True, **over: Any) -> Any:
    data = {"staff_id": staff_id, "name": "骨科 员工", "department_code": dept, "role": role,
            "capacity": 20, "active": active}  # fmt: skip
    return envelope("staff.member_saved", data, subject=staff_id, **over)


async def on_roster(bootstrap: str, events: list[dict[str, Any]]) -> None:
    await publish(bootstrap, topics.STAFF_ROSTER, [(e["subject"], to_bytes(e)) for e in events])


async def consumed(dsn: str, event_id: str) -> bool:
    """Whether the complaints service's roster consumer has handled `event_id`."""
    async with db(dsn) as conn:
        return bool(await conn.fetchval("SELECT 1 FROM inbox WHERE event_id = $1", event_id))


async def the_case(http: httpx.AsyncClient, tokens: Any, number: str) -> dict[str, Any]:
    response = await http.get(f"/v1/cases/{number}", headers=tokens["admin"])
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def assignments(http: httpx.AsyncClient, tokens: Any, number: str) -> list[dict[str, Any]]:
    response = await http.get(f"/v1/cases/{number}/audit", headers=tokens["admin"])
    return [a for a in response.json()["audit"] if a["action"] == "assigned"]


async def assigned_events(bootstrap: str, number: str) -> list[dict[str, Any]]:
    events = json_values(await read_all(bootstrap, topics.COMPLAINT_CASES))
    return [
        e for e in events if e.get("subject") == number and e["type"] == "complaint.case_assigned"
    ]


async def outbox_sent(dsn: str) -> bool:
    async with db(dsn) as conn:
        return not await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")


async def withdraw(dsn: str, number: str) -> None:
    async with db(dsn) as conn, conn.transaction():
        await cases.transition(
            conn, POLICY, number, to="withdrawn", actor=SYSTEM, now=datetime.now(UTC)
        )


async def case_key(dsn: str, number: str) -> dict[str, Any]:
    """What the hospital gave the case (its channel and external id)."""
    async with db(dsn) as conn:
        sql = "SELECT channel, external_id FROM cases WHERE case_number = $1"
        return dict(await conn.fetchrow(sql, number))


async def made_inactive(
    bootstrap: str,
    leaving: str,
    dept: str,
    read: Callable[[], Awaitable[dict[str, Any]]],
    *,
    holder: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The doctor `leaving` made inactive on the roster: (the roster event, what `read` gives
    once its `holder` is somebody else)."""
    left = member_saved(leaving, dept, "doctor", active=False)
    await on_roster(bootstrap, [left])

    async def handed_back() -> dict[str, Any] | None:
        now = await read()
        return now if now[holder] != leaving else None

    return left, await eventually(handed_back, timeout=30)


async def a_department_with_cases(
    http: httpx.AsyncClient, tokens: Any, bootstrap: str, dsn: str
) -> tuple[list[str], list[str]]:
    """A new department's supervisor and two doctors on the roster, (supervisor, A, B), and
    three cases opened at the desk, assigned by least load, ties to the first id: A, B, A."""
    dept = f"ORTH-{uuid.uuid4().hex[:8]}"
    staff = [f"S-{dept}-SUP", f"S-{dept}-DOC-A", f"S-{dept}-DOC-B"]
    joined = [member_saved(staff[0], dept, "supervisor"), member_saved(staff[1], dept, "doctor"),
              member_saved(staff[2], dept, "doctor")]  # fmt: skip
    await on_roster(bootstrap, joined)
    for e in joined:  # one partition each, maybe
        await eventually(lambda e=e: consumed(dsn, e["id"]), timeout=30)
    numbers = []
    for _ in range(3):
        body = {"channel": "phone", "description": "候诊排队等了三个小时",
                "department": {"code": dept, "name": "骨科"}}  # fmt: skip
        response = await http.post("/v1/cases", json=body, headers=tokens["agent"])
        assert response.status_code == 201, response.text
        numbers.append(response.json()["case_number"])
    assigned = [(await the_case(http, tokens, n))["assignee_id"] for n in numbers]
    assert assigned == [staff[1], staff[2], staff[1]]
    return staff, numbers


async def test_a_deactivated_handlers_open_case_goes_to_another_active_member_once(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    bootstrap, dsn = stack_env["KAFKA_BOOTSTRAP_SERVERS"], stack_env["DATABASE_URL"]
    [_, leaving, staying], [open_one, _, finished] = await a_department_with_cases(
        http, tokens, bootstrap, dsn
    )
    await withdraw(dsn, finished)
    finished_before = await the_case(http, tokens, finished)
    dept = finished_before["handling_department"]

    left, case = await made_inactive(
        bootstrap, leaving, dept, lambda: the_case(http, tokens, open_one), holder="assignee_id"
    )
    assert (case["assignee_id"], case["handling_department"]) == (staying, dept)
    [audit] = await assignments(http, tokens, open_one)
    assert (audit["actor_id"], audit["actor_role"]) == (SYSTEM.id, "system")
    assert audit["detail"] == {
        "from": leaving, "to": staying, "reason": SystemNote.HANDLER_DEACTIVATED.value,
    }  # fmt: skip
    [event] = await eventually(lambda: assigned_events(bootstrap, open_one), timeout=30)
    assert (event["data"]["assignee_id"], event["data"]["actor_role"]) == (staying, "system")
    assert event["correlationid"] == left["id"]
    # made from the case and the roster event: a replay of that event makes the same one
    key = await case_key(dsn, open_one)
    assert event["id"] == handback.handback_event_id(key, left["id"], staying)
    # the finished case is left as it was, with its handler of record
    assert await the_case(http, tokens, finished) == finished_before
    assert await assignments(http, tokens, finished) == []

    # The same change again (a new event), and the first one redelivered: nothing more.
    again = member_saved(leaving, dept, "doctor", active=False)
    await on_roster(bootstrap, [left, again])
    await eventually(lambda: consumed(dsn, again["id"]), timeout=30)
    await eventually(lambda: outbox_sent(dsn), timeout=30)
    assert await the_case(http, tokens, open_one) == case
    assert len(await assignments(http, tokens, open_one)) == 1
    assert len(await assigned_events(bootstrap, open_one)) == 1
    assert await the_case(http, tokens, finished) == finished_before


# --- against PostgreSQL's locks (a schema of its own, the service's code) -------------------

LEAVING, STAYING = "S-ORTH-A", "S-ORTH-B"
SUPERVISOR = Actor("S-ORTH-SUP", "supervisor", "ORTH")


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with schema_pool(stack_env["DATABASE_URL"], "handback", "complaints") as pool:
        async with pool.acquire() as conn:
            await seed_rules(conn)
            for staff_id, role in ((LEAVING, "doctor"), (STAYING, "doctor"),
                                   (SUPERVISOR.id, "supervisor")):  # fmt: skip
                await roster.upsert_staff(
                    conn, staff_id, department_code="ORTH", role=role, active=True, source="seed"
                )
        yield pool


async def opening(conn: asyncpg.Connection, pool: asyncpg.Pool) -> dict[str, Any]:
    complaint = NewComplaint(
        channel="phone", external_id=uuid.uuid4().hex, description="候诊时间太长",
        submitted_at=datetime.now(UTC), category="waiting_time", department_code="ORTH",
    )  # fmt: skip
    case, _ = await open_case(
        conn, POLICY, await category_rules(conn), complaint,
        allocate=number_allocator(lambda: pool), actor=SUPERVISOR, now=datetime.now(UTC),
    )  # fmt: skip
    return case


async def deactivate(
    pool: asyncpg.Pool, staff_id: str, *, role: str = "doctor", roster_event_id: str = ""
) -> int:
    """`staff_id` made inactive and their cases handed back, as the roster consumer does."""
    async with pool.acquire() as conn, conn.transaction():
        assert await roster.upsert_staff(
            conn, staff_id, department_code="ORTH", role=role, active=False, source="roster"
        )
        return await handback.hand_back_open_cases(
            conn, POLICY, staff_id, roster_event_id=roster_event_id or uuid.uuid4().hex,
            correlation_id=None, now=datetime.now(UTC),
        )  # fmt: skip


@contextlib.asynccontextmanager
async def deactivation_under_way(
    pool: asyncpg.Pool, staff_id: str
) -> AsyncIterator[asyncpg.Connection]:
    """`staff_id` made inactive in a transaction that commits on the way out."""
    async with pool.acquire() as conn, conn.transaction():
        await roster.upsert_staff(
            conn, staff_id, department_code="ORTH", role="doctor", active=False, source="roster"
        )
        yield conn


async def assignee(pool: asyncpg.Pool, number: str) -> str | None:
    async with pool.acquire() as conn:
        case = await repository.case_by_number(conn, number)
    assert case is not None
    return case["assignee_id"]  # type: ignore[no-any-return]


async def test_a_case_opened_while_its_handler_is_made_inactive_is_handed_back_too(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        case = await opening(conn, pool)  # read the roster with the member still active
        assert case["assignee_id"] == LEAVING
        deactivating = asyncio.create_task(deactivate(pool, LEAVING))
        await asyncio.sleep(0.5)
        assert not deactivating.done()  # it waits for the opening to commit
        await tx.commit()
    assert await asyncio.wait_for(deactivating, 10) == 1
    assert await assignee(pool, case["case_number"]) == STAYING


async def test_an_opening_waiting_on_a_deactivation_holds_no_second_connection(
    pool: asyncpg.Pool,
) -> None:
    """An opening numbers its case (on a second connection of the pool) before it waits for
    the roster's lock: an opening that waited for the lock first, then for a connection, held
    its own meanwhile, and openings queued behind a deactivation could take the whole pool."""
    numbered = asyncio.Event()
    allocate = number_allocator(lambda: pool)

    async def allocate_and_tell(day: Any) -> int:
        number = await allocate(day)
        numbered.set()
        return number

    complaint = NewComplaint(
        channel="phone", external_id=uuid.uuid4().hex, description="候诊时间太长",
        submitted_at=datetime.now(UTC), category="waiting_time", department_code="ORTH",
    )  # fmt: skip
    holder, conn = await pool.acquire(), await pool.acquire()
    held, opened = holder.transaction(), None
    try:
        await held.start()
        await holder.execute(f"SELECT pg_advisory_xact_lock({roster.ROSTER_LOCK_KEY})")
        rules = await category_rules(conn)
        tx = conn.transaction()
        await tx.start()
        opened = asyncio.create_task(open_case(
            conn, POLICY, rules, complaint, allocate=allocate_and_tell, actor=SUPERVISOR,
            now=datetime.now(UTC),
        ))  # fmt: skip
        await asyncio.wait_for(numbered.wait(), 10)  # numbered while the lock is held
        assert not opened.done()  # and waiting for it
        await held.commit()
        case, created = await asyncio.wait_for(opened, 10)
        await tx.commit()
    finally:  # the lock let go first, whatever failed: the opening can then end
        with contextlib.suppress(Exception):
            await held.rollback()
        if opened is not None and not opened.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(opened, 10)
        await pool.release(conn)
        await pool.release(holder)
    assert created and case["assignee_id"] in (LEAVING, STAYING)


async def test_a_case_given_to_a_member_as_they_are_made_inactive_neither_deadlocks(
    pool: asyncpg.Pool,
) -> None:
    """A supervisor gives a case to the member being made inactive while the deactivation
    runs: it locks the member's row, then their cases. The reassignment locked the case, then
    the member's row, and the two deadlocked (PostgreSQL ended one: a 500 at the desk, or the
    roster consumer's retry). It waits for the member's row first now, and is refused once the
    deactivation has handed the case back."""
    async with pool.acquire() as conn:
        case = await opening(conn, pool)
    assert case["assignee_id"] == LEAVING
    async with deactivation_under_way(pool, LEAVING) as deactivation:

        async def give_it_to_them() -> None:
            async with pool.acquire() as conn, conn.transaction():
                await cases.reassign(
                    conn, case["case_number"], assignee_id=LEAVING, actor=SUPERVISOR,
                    now=datetime.now(UTC),
                )  # fmt: skip

        reassigning = asyncio.create_task(give_it_to_them())
        await asyncio.sleep(0.5)  # it waits on the member's row (before: holding the case)
        handed = await handback.hand_back_open_cases(
            deactivation, POLICY, LEAVING, roster_event_id=uuid.uuid4().hex,
            correlation_id=None, now=datetime.now(UTC),
        )  # fmt: skip
    assert handed == 1
    with pytest.raises(cases.CaseConflict):
        await asyncio.wait_for(reassigning, 10)
    assert await assignee(pool, case["case_number"]) == STAYING


async def test_a_case_being_withdrawn_as_its_handler_is_made_inactive_stays_withdrawn(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        number = (await opening(conn, pool))["case_number"]
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await cases.transition(
            conn, POLICY, number, to="withdrawn", actor=SUPERVISOR, now=datetime.now(UTC)
        )
        deactivating = asyncio.create_task(deactivate(pool, LEAVING))
        await asyncio.sleep(0.5)
        assert not deactivating.done()  # it waits for the supervisor's step (the case's lock)
        await tx.commit()
    assert await asyncio.wait_for(deactivating, 10) == 0
    assert await assignee(pool, number) == LEAVING  # the handler of record of a finished case


async def a_closed_case(pool: asyncpg.Pool) -> str:
    """A case of LEAVING's, closed (found unfounded, the patient told why)."""
    async with pool.acquire() as conn, conn.transaction():
        number: str = (await opening(conn, pool))["case_number"]
        for to, note in (("acknowledged", None), ("investigating", None),
                         ("unfounded", "检查均按规范进行"), ("closed", "已向患者解释")):  # fmt: skip
            await cases.transition(
                conn, POLICY, number, to=to, actor=SYSTEM, now=datetime.now(UTC), note=note
            )
    assert await assignee(pool, number) == LEAVING
    return number


async def dissatisfied(conn: asyncpg.Connection, number: str) -> dict[str, Any]:
    """不满意 at the satisfaction check: the case reopens."""
    return await cases.record_satisfaction(
        conn, POLICY, number, rating=Satisfaction.DISSATISFIED, actor=SYSTEM, now=datetime.now(UTC)
    )


async def audit_and_events(pool: asyncpg.Pool, number: str) -> tuple[list[Any], list[Any]]:
    """The case's audit lines and the events queued for it, in order."""
    async with pool.acquire() as conn:
        case = await repository.case_by_number(conn, number)
        assert case is not None
        audit = await repository.audit_of(conn, case["id"])
        rows = await conn.fetch("SELECT payload FROM outbox ORDER BY id")
    events = [e for r in rows if (e := json.loads(r["payload"]))["subject"] == number]
    return audit, events


async def test_a_case_reopened_after_its_handler_left_goes_to_an_active_member(
    pool: asyncpg.Pool,
) -> None:
    number = await a_closed_case(pool)
    assert await deactivate(pool, LEAVING) == 0  # closed: nothing to hand back then
    async with pool.acquire() as conn, conn.transaction():
        case = await dissatisfied(conn, number)
    assert (case["status"], case["cycle"], case["assignee_id"]) == ("reopened", 2, STAYING)
    audit, events = await audit_and_events(pool, number)
    assert [a["action"] for a in audit[-2:]] == ["transition", "assigned"]
    assert (audit[-1]["actor_id"], audit[-1]["from_status"]) == (SYSTEM.id, "reopened")
    assert audit[-1]["detail"] == {
        "from": LEAVING, "to": STAYING, "reason": SystemNote.REOPENED_WITHOUT_HANDLER.value,
    }  # fmt: skip
    assert [e["type"] for e in events[-2:]] == [
        "complaint.case_reopened",
        "complaint.case_assigned",
    ]
    assert (events[-1]["data"]["assignee_id"], events[-1]["data"]["cycle"]) == (STAYING, 2)
    # the new cycle's limits are on the event: the new handler's time runs from the reopening
    assert events[-1]["data"]["promised_response_by"] is not None


async def test_a_case_reopened_as_its_handler_is_made_inactive_is_handed_back_after_it(
    pool: asyncpg.Pool,
) -> None:
    number = await a_closed_case(pool)
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        assert (await dissatisfied(conn, number))["assignee_id"] == LEAVING  # still active
        deactivating = asyncio.create_task(deactivate(pool, LEAVING))
        await asyncio.sleep(0.5)
        assert not deactivating.done()  # it waits for the reopening to commit
        await tx.commit()
    assert await asyncio.wait_for(deactivating, 10) == 1
    assert await assignee(pool, number) == STAYING


async def test_the_open_cases_of_a_supervisor_made_inactive_get_another_supervisor_once(
    pool: asyncpg.Pool,
) -> None:
    other = "S-ORTH-SUP2"
    async with pool.acquire() as conn, conn.transaction():
        await roster.upsert_staff(
            conn, other, department_code="ORTH", role="supervisor", active=True, source="seed"
        )
        case = await opening(conn, pool)
    assert (case["assignee_id"], case["supervisor_id"]) == (LEAVING, SUPERVISOR.id)
    roster_event = uuid.uuid4().hex
    assert (
        await deactivate(pool, SUPERVISOR.id, role="supervisor", roster_event_id=roster_event) == 1
    )
    async with pool.acquire() as conn:
        now = await repository.case_by_number(conn, case["case_number"])
    assert now is not None
    assert (now["assignee_id"], now["supervisor_id"]) == (LEAVING, other)
    audit, events = await audit_and_events(pool, case["case_number"])
    [changed] = [a for a in audit if a["action"] == "supervisor_assigned"]
    assert changed["detail"] == {
        "from": SUPERVISOR.id, "to": other, "reason": SystemNote.SUPERVISOR_INACTIVE.value,
    }  # fmt: skip
    assert not [a for a in audit if a["action"] == "assigned"]  # its handler stays
    event = events[-1]
    assert (event["type"], event["data"]["supervisor_id"]) == ("complaint.case_assigned", other)
    assert event["id"] == handback.supervisor_event_id(case, roster_event, other)


# --- enquiries, and a change of role (the service on Kafka) ----------------------------------


async def a_department(bootstrap: str, dsn: str, *roles: str) -> tuple[str, list[str]]:
    """A new department with one member of each of `roles` on the roster, in staff id order."""
    dept = f"ORTH-{uuid.uuid4().hex[:8]}"
    staff = [f"S-{dept}-{i}-{role.upper()}" for i, role in enumerate(roles)]
    joined = [member_saved(s, dept, role) for s, role in zip(staff, roles, strict=True)]
    await on_roster(bootstrap, joined)
    for e in joined:
        await eventually(lambda e=e: consumed(dsn, e["id"]), timeout=30)
    return dept, staff


async def an_enquiry_of(http: httpx.AsyncClient, tokens: Any, dept: str, owner: str) -> str:
    """An enquiry about `dept` taken at the desk and handed over to `owner` to answer."""
    body = {"channel": "phone", "question": "骨科复查需要空腹吗",
            "department": {"code": dept, "name": "骨科"}}  # fmt: skip
    response = await http.post("/v1/enquiries", json=body, headers=tokens["agent"])
    assert response.status_code == 201, response.text
    number: str = response.json()["enquiry_number"]
    response = await http.post(
        f"/v1/enquiries/{number}/handover", json={"to": owner, "reason": "由骨科医生答复"},
        headers=tokens["agent"],
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["owner_id"] == owner
    return number


async def the_enquiry(http: httpx.AsyncClient, tokens: Any, number: str) -> dict[str, Any]:
    response = await http.get(f"/v1/enquiries/{number}", headers=tokens["admin"])
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def by_the_system(enquiry: dict[str, Any]) -> list[dict[str, Any]]:
    return [h for h in enquiry["history"] if h["actor_id"] == SYSTEM.id]


async def enquiry_handed_back(bootstrap: str, number: str) -> list[dict[str, Any]]:
    events = json_values(await read_all(bootstrap, topics.COMPLAINT_CASES))
    return [
        e for e in events if e.get("subject") == number
        and e["type"] == "enquiry.handed_over" and e["data"]["actor_role"] == "system"
    ]  # fmt: skip


async def test_a_deactivated_members_open_enquiry_goes_to_another_active_member_once(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    bootstrap, dsn = stack_env["KAFKA_BOOTSTRAP_SERVERS"], stack_env["DATABASE_URL"]
    dept, [leaving, staying, supervisor] = await a_department(
        bootstrap, dsn, "doctor", "doctor", "supervisor"
    )
    number = await an_enquiry_of(http, tokens, dept, leaving)

    left, enquiry = await made_inactive(
        bootstrap, leaving, dept, lambda: the_enquiry(http, tokens, number), holder="owner_id"
    )
    assert (enquiry["owner_id"], enquiry["owner_department"], enquiry["supervisor_id"]) == (
        staying, dept, supervisor,
    )  # fmt: skip
    [line] = by_the_system(enquiry)
    assert (line["action"], line["actor_role"]) == ("handed_over", "system")
    assert line["detail"] == {
        "from": leaving, "to": staying, "reason": SystemNote.HANDLER_DEACTIVATED.value,
    }  # fmt: skip
    [event] = await eventually(lambda: enquiry_handed_back(bootstrap, number), timeout=30)
    assert (event["data"]["owner_id"], event["data"]["previous_owner_id"]) == (staying, leaving)
    assert event["correlationid"] == left["id"]
    # made from the enquiry, the roster event and who takes over: a replay makes the same one
    to = {"owner_id": staying, "owner_department": dept}
    assert event["id"] == enquiry_handback.handback_event_id(
        {"enquiry_number": number}, left["id"], to
    )

    # The same change again (a new event), and the first one redelivered: nothing more.
    again = member_saved(leaving, dept, "doctor", active=False)
    await on_roster(bootstrap, [left, again])
    await eventually(lambda: consumed(dsn, again["id"]), timeout=30)
    await eventually(lambda: outbox_sent(dsn), timeout=30)
    assert await the_enquiry(http, tokens, number) == enquiry
    assert len(await enquiry_handed_back(bootstrap, number)) == 1


async def test_a_member_given_a_role_that_may_not_hold_their_work_hands_back_just_that(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """A supervisor made an agent stays active: what they supervise gets another supervisor,
    the enquiry they own stays theirs (an agent may own one). A doctor made operations hands
    back the case and the enquiry they handle."""
    bootstrap, dsn = stack_env["KAFKA_BOOTSTRAP_SERVERS"], stack_env["DATABASE_URL"]
    dept, [doctor, other_doctor, supervisor, second] = await a_department(
        bootstrap, dsn, "doctor", "doctor", "supervisor", "supervisor"
    )
    body = {"channel": "phone", "description": "候诊排队等了三个小时",
            "department": {"code": dept, "name": "骨科"}}  # fmt: skip
    response = await http.post("/v1/cases", json=body, headers=tokens["agent"])
    assert response.status_code == 201, response.text
    case_number = response.json()["case_number"]
    case = await the_case(http, tokens, case_number)
    assert (case["assignee_id"], case["supervisor_id"]) == (doctor, supervisor)
    doctors = await an_enquiry_of(http, tokens, dept, doctor)
    supervisors = await an_enquiry_of(http, tokens, dept, supervisor)
    assert (await the_enquiry(http, tokens, doctors))["supervisor_id"] == supervisor

    made_agent = member_saved(supervisor, dept, "agent")
    await on_roster(bootstrap, [made_agent])
    await eventually(lambda: consumed(dsn, made_agent["id"]), timeout=30)
    case = await the_case(http, tokens, case_number)
    assert (case["assignee_id"], case["supervisor_id"]) == (doctor, second)
    audit = (await http.get(f"/v1/cases/{case_number}/audit", headers=tokens["admin"])).json()
    [changed] = [a for a in audit["audit"] if a["action"] == "supervisor_assigned"]
    assert changed["detail"] == {
        "from": supervisor, "to": second, "reason": SystemNote.SUPERVISOR_ROLE_CHANGED.value,
    }  # fmt: skip
    for number, owner in ((doctors, doctor), (supervisors, supervisor)):
        enquiry = await the_enquiry(http, tokens, number)
        assert (enquiry["owner_id"], enquiry["supervisor_id"]) == (owner, second)
        [line] = by_the_system(enquiry)
        assert (line["action"], line["detail"]["reason"]) == (
            "supervisor_assigned", SystemNote.SUPERVISOR_ROLE_CHANGED.value,
        )  # fmt: skip

    made_operations = member_saved(doctor, dept, "admin")
    await on_roster(bootstrap, [made_operations])
    await eventually(lambda: consumed(dsn, made_operations["id"]), timeout=30)
    case = await the_case(http, tokens, case_number)
    assert (case["assignee_id"], case["supervisor_id"]) == (other_doctor, second)
    [audit_line] = await assignments(http, tokens, case_number)
    assert audit_line["detail"] == {
        "from": doctor, "to": other_doctor, "reason": SystemNote.HANDLER_ROLE_CHANGED.value,
    }  # fmt: skip
    # the least loaded now: the one who was a supervisor, an agent with no open case
    enquiry = await the_enquiry(http, tokens, doctors)
    assert (enquiry["owner_id"], enquiry["supervisor_id"]) == (supervisor, second)
    assert by_the_system(enquiry)[-1]["detail"] == {
        "from": doctor, "to": supervisor, "reason": SystemNote.HANDLER_ROLE_CHANGED.value,
    }  # fmt: skip


async def test_the_service_counts_what_a_roster_change_would_hand_back_before_it_is_saved(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """The console asks before a deactivation or a role change, saying how much goes: before,
    it counted only the cases a member handles (`GET /v1/case-workload`), not those they
    supervise nor their enquiries. `GET /v1/staff/{id}/handback` counts each by the rule the
    change applies, and the change then hands back just that."""
    bootstrap, dsn = stack_env["KAFKA_BOOTSTRAP_SERVERS"], stack_env["DATABASE_URL"]
    dept, [doctor, supervisor, second] = await a_department(
        bootstrap, dsn, "doctor", "supervisor", "supervisor"
    )
    body = {"channel": "phone", "description": "候诊排队等了三个小时",
            "department": {"code": dept, "name": "骨科"}}  # fmt: skip
    response = await http.post("/v1/cases", json=body, headers=tokens["agent"])
    assert response.status_code == 201, response.text
    await an_enquiry_of(http, tokens, dept, doctor)
    await an_enquiry_of(http, tokens, dept, supervisor)

    async def would_hand_back(staff_id: str, role: str, active: bool = True) -> dict[str, Any]:
        response = await http.get(
            f"/v1/staff/{staff_id}/handback", params={"role": role, "active": str(active).lower()},
            headers=tokens["admin"],
        )  # fmt: skip
        assert response.status_code == 200, response.text
        counts: dict[str, Any] = response.json()
        return {k: counts[k] for k in ("cases_handled", "cases_supervised", "enquiries_owned",
                                       "enquiries_supervised")}  # fmt: skip

    none = {"cases_handled": 0, "cases_supervised": 0, "enquiries_owned": 0,
            "enquiries_supervised": 0}  # fmt: skip
    assert await would_hand_back(supervisor, "supervisor") == none
    assert await would_hand_back(doctor, "agent") == none  # an agent holds what a doctor does
    assert await would_hand_back(doctor, "admin") == none | {"cases_handled": 1,
                                                             "enquiries_owned": 1}  # fmt: skip
    assert await would_hand_back(supervisor, "agent") == none | {
        "cases_supervised": 1, "enquiries_supervised": 2,
    }  # fmt: skip
    assert await would_hand_back(supervisor, "supervisor", active=False) == {
        "cases_handled": 0, "cases_supervised": 1, "enquiries_owned": 1, "enquiries_supervised": 2,
    }  # fmt: skip
    assert await would_hand_back("S-NOBODY-HERE", "agent", active=False) == none
    refused = await http.get(
        f"/v1/staff/{doctor}/handback",
        params={"role": "admin"},
        headers={"Authorization": f"Bearer {stack_env['TOKEN_SUPERVISOR']}"},
    )
    assert refused.status_code == 403  # the desk's supervisor: another department's member
    agents = await http.get(f"/v1/staff/{doctor}/handback", params={"role": "admin"},
                            headers=tokens["agent"])  # fmt: skip
    assert agents.status_code == 403

    made_agent = member_saved(supervisor, dept, "agent")
    await on_roster(bootstrap, [made_agent])
    await eventually(lambda: consumed(dsn, made_agent["id"]), timeout=30)
    # what the first supervisor gave up is now the second's; the enquiry they own stays theirs
    assert await would_hand_back(supervisor, "admin") == none | {"enquiries_owned": 1}
    assert await would_hand_back(second, "agent") == none | {
        "cases_supervised": 1, "enquiries_supervised": 2,
    }  # fmt: skip


# --- enquiries against PostgreSQL's locks ----------------------------------------------------

ENQUIRIES = EnquiryPolicy(
    limits=default_limits(), warning_fraction=0.8, desk_department="CS", number_prefix="ZX",
    tz=ZoneInfo("Asia/Shanghai"),
)  # fmt: skip


async def an_enquiry(pool: asyncpg.Pool, owner: str) -> dict[str, Any]:
    new = NewEnquiry(
        channel=EnquiryChannel.PHONE, question="复查需要空腹吗", complex_=False,
        taken_at=datetime.now(UTC), department_code="ORTH",
    )  # fmt: skip
    async with pool.acquire() as conn, conn.transaction():
        return await enquiry_cases.take(
            conn, ENQUIRIES, new, actor=Actor(owner, "doctor", "ORTH"), now=datetime.now(UTC)
        )


async def the_enquiry_row(pool: asyncpg.Pool, number: str) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await enquiry_store.by_number(conn, "enquiries", number)
        assert row is not None
        return {**row, "history": await enquiry_store.history_of(conn, row["id"])}


async def test_an_enquiry_handed_to_a_member_as_they_are_made_inactive_is_refused(
    pool: asyncpg.Pool,
) -> None:
    """The deactivation has handed back what it found; a hand-over to the member at that
    moment waits for it to commit and is refused. It read the member as active and gave them
    the enquiry after the hand-back: an enquiry with somebody who left, for good."""
    number = (await an_enquiry(pool, STAYING))["enquiry_number"]
    async with deactivation_under_way(pool, LEAVING) as deactivation:
        await handback.hand_back_open_cases(
            deactivation, POLICY, LEAVING, roster_event_id=uuid.uuid4().hex,
            correlation_id=None, now=datetime.now(UTC),
        )  # fmt: skip

        async def hand_it_to_them() -> None:
            async with pool.acquire() as conn, conn.transaction():
                await enquiry_cases.hand_over(
                    conn, ENQUIRIES, number, to=LEAVING, reason="转骨科医生",
                    actor=Actor(STAYING, "doctor", "ORTH"), now=datetime.now(UTC),
                )  # fmt: skip

        handing = asyncio.create_task(hand_it_to_them())
        await asyncio.sleep(0.5)
        assert not handing.done()  # it waits for the member's row
    with pytest.raises(enquiry_cases.UnknownStaff):
        await asyncio.wait_for(handing, 10)
    assert (await the_enquiry_row(pool, number))["owner_id"] == STAYING


async def test_with_nobody_active_an_enquiry_is_left_without_owner_or_supervisor_and_says_so(
    pool: asyncpg.Pool,
) -> None:
    number = (await an_enquiry(pool, LEAVING))["enquiry_number"]
    assert (await the_enquiry_row(pool, number))["supervisor_id"] == SUPERVISOR.id
    assert await deactivate(pool, STAYING) == 0
    assert await deactivate(pool, SUPERVISOR.id, role="supervisor") == 1  # nobody supervises
    assert await deactivate(pool, LEAVING) == 1
    enquiry = await the_enquiry_row(pool, number)
    assert (enquiry["owner_id"], enquiry["owner_department"], enquiry["supervisor_id"]) == (
        None, "ORTH", None,
    )  # fmt: skip
    assert [(h["action"], h["detail"]) for h in enquiry["history"][-2:]] == [
        ("supervisor_assigned", {"from": SUPERVISOR.id, "to": None,
                                 "reason": SystemNote.NO_SUPERVISOR_TO_TAKE_OVER.value}),
        ("handed_over", {"from": LEAVING, "to": None,
                         "reason": SystemNote.NOBODY_TO_TAKE_OVER.value}),
    ]  # fmt: skip
    # its time limit still warns and escalates, to the desk's supervisor when there is one
    later = datetime.now(UTC) + timedelta(days=3)
    assert await enquiry_timer_pass(pool, now=later, batch_size=10, desk_department="CS") == 2


async def test_a_member_moved_to_another_department_hands_back_what_they_held_for_the_old_one(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """A doctor and a supervisor stay active and move to another department: before, they kept
    the old department's case and enquiry, handled and supervised from a department no longer
    theirs (its supervisors seeing someone else's staff on it). Now the doctor's case and
    enquiry go to the old department's other doctor, the supervisor's to its other supervisor,
    each with a reason that says they moved; `GET .../handback?department=` counted it first."""
    bootstrap, dsn = stack_env["KAFKA_BOOTSTRAP_SERVERS"], stack_env["DATABASE_URL"]
    dept, [doctor, other_doctor, supervisor, second] = await a_department(
        bootstrap, dsn, "doctor", "doctor", "supervisor", "supervisor"
    )
    elsewhere, _ = await a_department(bootstrap, dsn, "supervisor")
    body = {"channel": "phone", "description": "候诊排队等了三个小时",
            "department": {"code": dept, "name": "骨科"}}  # fmt: skip
    response = await http.post("/v1/cases", json=body, headers=tokens["agent"])
    assert response.status_code == 201, response.text
    case_number = response.json()["case_number"]
    assert (await the_case(http, tokens, case_number))["supervisor_id"] == supervisor
    number = await an_enquiry_of(http, tokens, dept, doctor)

    async def would_hand_back(staff_id: str, role: str, to: str) -> list[int]:
        params = {"role": role, "department": to}
        response = await http.get(
            f"/v1/staff/{staff_id}/handback", params=params, headers=tokens["admin"]
        )
        assert response.status_code == 200, response.text
        counts = response.json()
        return [counts[k] for k in ("cases_handled", "cases_supervised", "enquiries_owned",
                                    "enquiries_supervised")]  # fmt: skip

    counted = {
        doctor: await would_hand_back(doctor, "doctor", elsewhere),
        supervisor: await would_hand_back(supervisor, "supervisor", elsewhere),
    }
    assert await would_hand_back(doctor, "doctor", dept) == [0, 0, 0, 0]  # the same department

    async def move(staff_id: str, role: str) -> None:
        moved = member_saved(staff_id, elsewhere, role)
        await on_roster(bootstrap, [moved])
        await eventually(lambda: consumed(dsn, moved["id"]), timeout=30)

    await move(doctor, "doctor")
    case = await the_case(http, tokens, case_number)
    assert (case["assignee_id"], case["handling_department"]) == (other_doctor, dept)
    [audit_line] = await assignments(http, tokens, case_number)
    assert audit_line["detail"] == {
        "from": doctor, "to": other_doctor,
        "reason": SystemNote.HANDLER_DEPARTMENT_CHANGED.value,
    }  # fmt: skip
    enquiry = await the_enquiry(http, tokens, number)
    assert (enquiry["owner_id"], enquiry["supervisor_id"]) == (other_doctor, supervisor)
    assert [(h["action"], h["detail"]) for h in by_the_system(enquiry)] == [("handed_over", {
        "from": doctor, "to": other_doctor, "reason": SystemNote.HANDLER_DEPARTMENT_CHANGED.value,
    })]  # fmt: skip

    await move(supervisor, "supervisor")
    case = await the_case(http, tokens, case_number)
    assert (case["assignee_id"], case["supervisor_id"]) == (other_doctor, second)
    audit = (await http.get(f"/v1/cases/{case_number}/audit", headers=tokens["admin"])).json()
    [changed] = [a for a in audit["audit"] if a["action"] == "supervisor_assigned"]
    assert changed["detail"] == {
        "from": supervisor, "to": second,
        "reason": SystemNote.SUPERVISOR_DEPARTMENT_CHANGED.value,
    }  # fmt: skip
    enquiry = await the_enquiry(http, tokens, number)
    assert (enquiry["owner_id"], enquiry["supervisor_id"]) == (other_doctor, second)
    assert by_the_system(enquiry)[-1]["detail"] == {
        "from": supervisor, "to": second,
        "reason": SystemNote.SUPERVISOR_DEPARTMENT_CHANGED.value,
    }  # fmt: skip
    assert counted == {doctor: [1, 0, 1, 0], supervisor: [0, 1, 0, 1]}
