"""A batch of mixed events saved in bulk on the real PostgreSQL ends with exactly the rows
that one event at a time gives: a reminder created and cancelled in the same batch is
withdrawn, a cancellation seen first withdraws the reminder created later (in the batch or
the next), a death withdraws what waits, a message planned twice is created once, a roster
change mid-batch is seen by the events after it, and the last contact details win. Through Kafka,
the running service saves a backlog with duplicates once and in each patient's order."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from pydantic import BaseModel

from hospital_shared import topics
from hospital_shared.codec import encode
from hospital_shared.events import (
    CloudEvent,
    ComplaintSubmitted,
    DischargeCancelled,
    Patient,
    PatientDischarged,
    RegistrationCancelled,
    RegistrationCreated,
    RegistrationNoShow,
    make_event,
)
from hospital_shared.field_crypto import open_
from hospital_shared.service_events.complaints import CasePatient, ComplaintCaseChanged
from hospital_shared.service_events.followup import (
    FollowUpTaskAssigned,
    FollowUpTaskOverdue,
    FollowUpTaskUnreachable,
    StaffMemberSaved,
    StaffRole,
)
from hospital_shared.service_events.registration import PatientDetailsUpdated
from notifications import repository
from notifications.domain import QuietHours
from notifications.handlers import EventHandlers
from notifications.policy import PlanningRules
from tests.integration.schemas import new_schema
from tests.integration.services import RunningService
from tests.kafka_tools import eventually, publish

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # 17:30 in the hospital: not quiet hours
# What a message row says, without its id and the database's own clock.
SHOWN = (
    "idempotency_key, template, audience, channel, patient_id, staff_id, subject_ref, status,"
    " status_reason, body <> '' AS has_body, due_at, send_after, deferred_reason, digest_slot,"
    " expires_at, finished_at IS NOT NULL AS finished, delivered_at IS NOT NULL AS delivered"
)


def event(type_: str, data: BaseModel, subject: str) -> CloudEvent[Any]:
    return make_event(type_, data, source="urn:test", subject=subject, time=NOW)


def patient(pid: str, phone: str = "13800138000") -> Patient:
    return Patient(patient_id=pid, name="张三", phone=phone)


def registration(t: str, n: int, pid: str, *, now: datetime = NOW) -> CloudEvent[Any]:
    data = RegistrationCreated.model_validate(
        {
            "registration_id": f"R{t}-{n}",
            "patient": patient(pid),
            "department": {"code": "CARD", "name": "心内科"},
            "visit_type": "first",
            "channel": "online",
            "registered_at": now,
            "appointment_at": now + timedelta(days=3),
        }
    )
    return event("registration.created", data, pid)


def cancelled(t: str, n: int, pid: str) -> CloudEvent[Any]:
    data = RegistrationCancelled(registration_id=f"R{t}-{n}", cancelled_at=NOW)
    return event("registration.cancelled", data, pid)


def no_show(t: str, n: int, pid: str) -> CloudEvent[Any]:
    return event("registration.no_show", RegistrationNoShow(registration_id=f"R{t}-{n}"), pid)


def discharge(
    t: str, n: int, pid: str, disposition: str, *, now: datetime = NOW
) -> CloudEvent[Any]:
    data = PatientDischarged.model_validate(
        {
            "admission_id": f"A{t}-{n}",
            "patient": patient(pid),
            "department": {"code": "CARD", "name": "心内科"},
            "admitted_at": now - timedelta(days=5),
            "discharged_at": now,
            "disposition": disposition,
        }
    )
    return event("patient.discharged", data, pid)


def task(t: str, n: int, pid: str, dept: str) -> dict[str, Any]:
    return {
        "task_id": f"T{t}-{n}",
        "kind": "inpatient_discharge",
        "patient_id": pid,
        "department_code": dept,
        "due_at": NOW + timedelta(days=1),
    }


def mixed_stream(t: str) -> tuple[list[CloudEvent[Any]], list[CloudEvent[Any]]]:
    """Two batches of events about patients, registrations, tasks and staff tagged `t`."""
    p = [f"P{t}-{i}" for i in range(6)]
    dept, sup = f"D{t}", f"SUP{t}"
    staff = StaffMemberSaved(
        staff_id=sup,
        name="主管",
        department_code=dept,
        role=StaffRole.SUPERVISOR,
        capacity=5,
        phone="13900000001",
    )
    assigned = FollowUpTaskAssigned.model_validate(task(t, 2, p[5], dept) | {"assignee_id": sup})
    first = [
        registration(t, 1, p[1]),
        cancelled(t, 1, p[1]),  # in the same batch as its registration
        no_show(t, 3, p[3]),  # before its registration
        registration(t, 3, p[3]),
        no_show(t, 6, p[2]),  # its registration comes in the next batch
        registration(t, 4, p[4]),
        discharge(t, 4, p[4], "deceased"),  # withdraws the reminder above
        registration(t, 5, p[4]),  # after the death: planned, the dispatcher decides
        discharge(t, 5, p[5], "home"),
        event(
            "complaint.submitted",
            ComplaintSubmitted.model_validate(
                {
                    "external_id": f"C{t}",
                    "channel": "online",
                    "description": "排队太久",
                    "submitted_at": NOW,
                    "patient": patient(p[5], phone="13911112222"),
                }
            ),
            p[5],
        ),
        event(
            "followup.task_overdue",
            FollowUpTaskOverdue.model_validate(task(t, 1, p[5], dept)),
            p[5],
        ),
        event("staff.member_saved", staff, sup),  # the supervisor of `dept` from now on
        event(
            "followup.task_overdue",
            FollowUpTaskOverdue.model_validate(task(t, 1, p[5], dept)),
            p[5],
        ),
        event("followup.task_assigned", assigned, p[5]),
        event("followup.task_assigned", assigned, p[5]),  # another event, the same note
        event(
            "followup.task_unreachable",
            FollowUpTaskUnreachable.model_validate(
                {k: v for k, v in task(t, 3, p[5], dept).items() if k != "due_at"}
                | {
                    "attempts_made": 3,
                    "source_ref": f"A{t}-5",
                    "patient_phone": "13933334444",
                }
            ),
            p[5],
        ),
        event("discharge.cancelled", DischargeCancelled(admission_id=f"A{t}-4"), p[4]),
    ]
    second = [registration(t, 6, p[2]), cancelled(t, 5, p[4])]
    return first, second


def expected_messages(t: str) -> dict[str, tuple[str, str | None]]:
    """(status, reason) of each message, by (template, subject) -> key suffix."""
    return {
        f"appointment_reminder registration:R{t}-1": ("withdrawn", "cancelled"),
        f"appointment_reminder registration:R{t}-3": ("withdrawn", "no_show"),
        f"appointment_reminder registration:R{t}-4": ("withdrawn", "patient_deceased"),
        f"appointment_reminder registration:R{t}-5": ("withdrawn", "cancelled"),
        f"appointment_reminder registration:R{t}-6": ("withdrawn", "no_show"),
        f"discharge_care_notice admission:A{t}-5": ("pending", None),
        f"followup_survey_invitation task:T{t}-3": ("pending", None),
        f"staff_task_overdue task:T{t}-1 inbox": ("delivered", None),
        f"staff_task_overdue task:T{t}-1 sms": ("pending", None),
        f"staff_task_assigned task:T{t}-2 inbox": ("delivered", None),
        f"staff_task_assigned task:T{t}-2 sms": ("pending", None),
    }


def summary(rows: list[asyncpg.Record]) -> dict[str, tuple[str, str | None]]:
    out: dict[str, tuple[str, str | None]] = {}
    for r in rows:
        name = f"{r['template']} {r['subject_ref']}"
        if r["audience"] == "staff":
            name += f" {r['channel']}"
        assert name not in out, f"two messages for {name}"
        out[name] = (r["status"], r["status_reason"])
    return out


@pytest.fixture
async def schemas(stack_env) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:  # type: ignore[no-untyped-def]
    """Two empty notifications schemas with the default templates: batch, one at a time."""
    pools = []
    for _ in range(2):
        pool = await new_schema(stack_env["DATABASE_URL"], "notifybatch", "notifications")
        async with pool.acquire() as conn:
            await repository.seed_templates(conn)
        pools.append(pool)
    yield pools[0], pools[1]
    for pool in pools:
        await pool.close()


def handlers() -> EventHandlers:
    rules = PlanningRules(
        tz=SH, common={"hospital": "市一院", "hotline": "12320", "survey_url": "https://s.example"}
    )
    return EventHandlers(rules, QuietHours(), clock=lambda: NOW)


async def test_a_mixed_batch_gives_the_rows_of_one_event_at_a_time(schemas) -> None:  # type: ignore[no-untyped-def]
    in_batches, one_by_one = schemas
    t = uuid.uuid4().hex[:6]
    batches = mixed_stream(t)
    h = handlers()
    for batch in batches:
        async with in_batches.acquire() as conn, conn.transaction():
            await h.handle_batch(conn, batch)
        for e in batch:
            async with one_by_one.acquire() as conn, conn.transaction():
                await h.handle(conn, e)

    async def rows(pool: asyncpg.Pool, sql: str) -> list[asyncpg.Record]:
        async with pool.acquire() as conn:
            return await conn.fetch(sql)  # type: ignore[no-any-return]

    got = await rows(in_batches, f"SELECT {SHOWN} FROM messages ORDER BY idempotency_key")
    assert summary(got) == expected_messages(t)
    one = await rows(one_by_one, f"SELECT {SHOWN} FROM messages ORDER BY idempotency_key")
    assert [dict(r) for r in got] == [dict(r) for r in one]
    by_key = {r["template"] + " " + r["channel"]: r for r in got if r["audience"] == "staff"}
    assert {r["staff_id"] for r in by_key.values()} == {f"SUP{t}"}  # found after the roster change
    assert by_key["staff_task_assigned sms"]["digest_slot"] == datetime(
        2026, 11, 24, 8, 30, tzinfo=SH
    )
    for sql in (
        # the phone is sealed with a fresh nonce each time: its hash tells the number
        "SELECT patient_id, phone_hash, sms_opt_out, deceased, deceased_ref FROM patients"
        " ORDER BY 1",
        "SELECT subject_ref, reason FROM withdrawn_subjects ORDER BY 1",
        "SELECT staff_id, department_code, role FROM staff ORDER BY 1",
    ):
        assert [dict(r) for r in await rows(in_batches, sql)] == [
            dict(r) for r in await rows(one_by_one, sql)
        ]
    patients = {r["patient_id"]: r for r in await rows(in_batches, "SELECT * FROM patients")}
    assert open_(patients[f"P{t}-5"]["phone"]) == "+8613933334444"  # the last event's number
    assert not patients[f"P{t}-4"]["deceased"]  # the discharge was cancelled


async def test_a_details_update_gives_the_patient_the_new_number(schemas) -> None:  # type: ignore[no-untyped-def]
    """ADT^A08 (`patient.details_updated`) is where a changed phone arrives between visits: a
    reminder still waiting must not go to the old number."""
    pool, _ = schemas
    t = uuid.uuid4().hex[:6]
    pid = f"P{t}-1"
    update = PatientDetailsUpdated(patient=patient(pid, "13911112222"), updated_at=NOW)
    h = handlers()
    for batch in ([registration(t, 1, pid)], [event("patient.details_updated", update, pid)]):
        async with pool.acquire() as conn, conn.transaction():
            await h.handle_batch(conn, batch)
    async with pool.acquire() as conn:
        phone = await conn.fetchval("SELECT phone FROM patients WHERE patient_id = $1", pid)
        waiting = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE patient_id = $1 AND status = 'pending'", pid
        )
    assert open_(phone) == "+8613911112222"
    assert waiting == 1  # the reminder, which will be sent to the number on file then


@pytest.mark.parametrize("one_batch", [False, True], ids=["death-later", "death-in-the-batch"])
async def test_a_death_withdraws_the_reminder_but_not_the_complaint_acknowledgement(
    schemas, one_batch
) -> None:  # type: ignore[no-untyped-def]
    """The acknowledgement answers a complaint the family may have lodged: its template is
    `send_to_deceased`, so the death's withdrawal of the patient's waiting SMS leaves it;
    also when the three events come in one batch (the messages still held by the writer)."""
    pool, _ = schemas
    t = uuid.uuid4().hex[:6]
    pid = f"P{t}-1"
    opened = ComplaintCaseChanged(
        case_number=f"TS-{t}", status="received", channel="phone", category="waiting_time",
        category_source="submitted", priority="normal", serious=False, complex=False,
        department_code="CARD", patient=CasePatient(patient_id=pid, phone="13800138000"),
        promised_response_by=NOW + timedelta(hours=24), occurred_at=NOW,
    )  # fmt: skip
    h = handlers()
    first = [registration(t, 1, pid), event("complaint.case_opened", opened, f"TS-{t}")]
    death = [discharge(t, 2, pid, "deceased")]
    batches = [first + death] if one_batch else [first, death]
    for batch in batches:
        async with pool.acquire() as conn, conn.transaction():
            await h.handle_batch(conn, batch)
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT template, status, status_reason FROM messages WHERE patient_id = $1", pid
        )
    assert {r["template"]: (r["status"], r["status_reason"]) for r in rows} == {
        "appointment_reminder": ("withdrawn", "patient_deceased"),
        "complaint_acknowledgement": ("pending", None),
    }


@pytest.mark.parametrize("death_first", [True, False], ids=["death-first", "cancel-first"])
async def test_the_first_withdrawal_gives_the_reason_whatever_its_kind(
    schemas, death_first
) -> None:  # type: ignore[no-untyped-def]
    """A waiting reminder that a death (patient-wide) and a cancellation (its subject) of one
    batch both reach takes the reason of the one first in the batch: the two kinds of
    withdrawal are matched in separate branches of the statement (message_store.withdraw)."""
    pool, _ = schemas
    t = uuid.uuid4().hex[:6]
    pid = f"P{t}-1"
    withdrawals = [discharge(t, 2, pid, "deceased"), cancelled(t, 1, pid)]
    h = handlers()
    for batch in ([registration(t, 1, pid)], withdrawals if death_first else withdrawals[::-1]):
        async with pool.acquire() as conn, conn.transaction():
            await h.handle_batch(conn, batch)
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, status_reason FROM messages WHERE subject_ref = $1",
            f"registration:R{t}-1",
        )
    reason = "patient_deceased" if death_first else "cancelled"
    assert (row["status"], row["status_reason"]) == ("withdrawn", reason)


@pytest.fixture(scope="module")
def notifications(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    # survey invitations off: the backlog's expected messages are the ones the handlers
    # built by hand plan (test_survey_by_sms_link.py tests the surveys)
    service = RunningService(
        stack_config, "notifications", extra_env={"NOTIFICATIONS_SURVEY_CONTACTS": "[]"}
    )
    yield service
    service.stop()


async def test_a_backlog_with_duplicates_is_saved_once_and_in_order_by_the_service(
    notifications, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """Published while the service is down, so that it takes them in few, large batches;
    each patient's events on one topic, in order (as the hospital systems key them)."""
    t, now = uuid.uuid4().hex[:6], datetime.now(UTC)
    p = [f"P{t}-{i}" for i in range(6)]
    registrations = [
        registration(t, 1, p[1], now=now),
        cancelled(t, 1, p[1]),
        no_show(t, 3, p[3]),
        registration(t, 3, p[3], now=now),
        registration(t, 2, p[2], now=now),
    ]
    discharges = [
        discharge(t, 4, p[4], "deceased", now=now),
        discharge(t, 5, p[5], "home", now=now),
    ]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    for topic, events in ((topics.REGISTRATIONS, registrations), (topics.DISCHARGES, discharges)):
        records = [(e.subject or "", encode(e)) for e in [*events, *events[-2:]]]  # duplicates
        await publish(bootstrap, topic, records)
    notifications.start()
    notifications.wait_ready()
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:

        async def settled() -> dict[str, tuple[str, str | None]]:
            rows = await conn.fetch(
                f"SELECT {SHOWN} FROM notifications.messages WHERE patient_id LIKE $1", f"P{t}-%"
            )
            return summary(rows) if len(rows) >= 4 else {}

        assert await eventually(settled, timeout=60) == {
            f"appointment_reminder registration:R{t}-1": ("withdrawn", "cancelled"),
            f"appointment_reminder registration:R{t}-2": ("pending", None),
            f"appointment_reminder registration:R{t}-3": ("withdrawn", "no_show"),
            f"discharge_care_notice admission:A{t}-5": ("pending", None),
        }
        deceased = await conn.fetch(
            "SELECT patient_id FROM notifications.patients WHERE deceased AND patient_id LIKE $1",
            f"P{t}-%",
        )
        assert [r["patient_id"] for r in deceased] == [p[4]]
    finally:
        await conn.close()
