"""Runs written a wave of distinct rows at a time (patient SMS statuses; registrations,
cancellations and no-shows; follow-up tasks), on the real PostgreSQL: a batch records and
counts exactly what the same events do one batch each: each SMS (message, status) once, staff
alerts not at all; a registration once, its first cancellation and no-show by its labels, any
other as unknown; a task planned once, withdrawn once while open, every overdue notice."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg

from hospital_shared.events import (
    CloudEvent,
    PatientDischarged,
    RegistrationCancelled,
    RegistrationCreated,
    RegistrationNoShow,
    make_event,
    topic_for,
)
from hospital_shared.service_events.followup import (
    FollowUpTaskAssigned,
    FollowUpTaskDue,
    FollowUpTaskOverdue,
    FollowUpTaskPlanned,
    FollowUpTaskWithdrawn,
)
from hospital_shared.service_events.notifications import SmsStatusChanged
from metrics.handlers import MetricsHandler
from metrics.settings import Settings
from tests.factories import NOW, discharge, registration
from tests.integration.schemas import new_schema


def sms(message_id: str, status: str, *, template: str = "reminder", audience: str = "patient",
        requested_min: int = 0) -> CloudEvent[Any]:  # fmt: skip
    data = SmsStatusChanged(
        message_id=message_id, template=template, audience=audience,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        encoding="ucs2", segments=1, attempts=1, source_event_id="E-1",
        source_event_type="followup.task_planned",
        requested_at=NOW + timedelta(minutes=requested_min), occurred_at=NOW,
    )  # fmt: skip
    return make_event(f"sms.{status}", data, source="urn:test", subject="P-1", time=NOW)


def no_show(registration_id: str | None = None) -> CloudEvent[Any]:
    data = RegistrationNoShow(registration_id=registration_id or f"R-{uuid.uuid4().hex[:6]}")
    return make_event("registration.no_show", data, source="urn:test", subject="P-2", time=NOW)


def created(n: int, department: str = "CARD") -> CloudEvent[Any]:
    data = registration(n, department={"code": department, "name": "科"})["data"]
    return make_event(
        "registration.created", RegistrationCreated.model_validate(data), source="urn:test",
        subject="P-2", time=NOW,
    )  # fmt: skip


def cancelled(n: int, minutes: int = 0) -> CloudEvent[Any]:
    data = RegistrationCancelled(
        registration_id=f"R{n:06d}", cancelled_at=NOW + timedelta(minutes=minutes)
    )
    return make_event("registration.cancelled", data, source="urn:test", subject="P-2", time=NOW)


def discharged(n: int) -> CloudEvent[Any]:
    data = PatientDischarged.model_validate(discharge(n)["data"])
    return make_event("patient.discharged", data, source="urn:test", subject="P-3", time=NOW)


EVENTS = [
    sms("M1", "submitted", requested_min=5),
    sms("M1", "delivered", requested_min=1),  # earlier: the row's created_at moves to it
    sms("M2", "expired"),
    sms("M2", "expired"),  # the same status again (another event): not counted again
    sms("M3", "submitted", audience="staff"),  # staff alerts are not counted
    sms("M4", "failed", template="unknown"),
    no_show(),  # another type between two SMS runs
    sms("M4", "expired"),  # fills in the unknown template
    sms("M1", "submitted"),  # again, in the next run
    sms("M5", "delivered"),
    sms("M5", "submitted"),  # a receipt before its submission counts both
]


REGISTRATIONS = [
    created(1),
    cancelled(1, minutes=3),
    no_show("R000001"),
    created(2),
    cancelled(1, minutes=9),  # cancelled before: counted as unknown, its time kept
    cancelled(3),  # before its registration: unknown, and the registration stays open
    discharged(1),  # another type between two runs
    created(3, department="ORTH"),
    created(3, department="NEUR"),  # the same registration again: not new, first one kept
    no_show("R000002"),
    no_show("R000002"),  # again: unknown
    no_show("R000009"),  # never registered: unknown
    cancelled(2, minutes=5),
]


def task(
    type_: str, n: int, minutes: int = 0, kind: str = "inpatient_discharge"
) -> CloudEvent[Any]:
    common = {
        "task_id": f"T{n}", "kind": kind, "patient_id": "P-4", "department_code": "CARD",
        "due_at": NOW + timedelta(hours=n, minutes=minutes),
    }  # fmt: skip
    data = {
        "followup.task_planned": lambda: FollowUpTaskPlanned(source_event_id="E-4", **common),
        "followup.task_assigned": lambda: FollowUpTaskAssigned(assignee_id="S-1", **common),
        "followup.task_due": lambda: FollowUpTaskDue(**common),
        "followup.task_overdue": lambda: FollowUpTaskOverdue(**common),
        "followup.task_withdrawn": lambda: FollowUpTaskWithdrawn(
            reason="visit_cancelled", source_event_id="E-5",
            **{k: v for k, v in common.items() if k != "due_at"},
        ),
    }[type_]()  # fmt: skip
    return make_event(type_, data, source="urn:test", subject="P-4", time=NOW)


TASKS = [
    task("followup.task_planned", 1),
    task("followup.task_assigned", 1, minutes=10),
    task("followup.task_withdrawn", 1),
    task("followup.task_withdrawn", 1),  # withdrawn before: not counted again
    task("followup.task_withdrawn", 2),  # before its plan: a placeholder, withdrawn
    task("followup.task_planned", 2),  # the plan comes after: counted, the row stays withdrawn
    discharged(2),  # another type between two runs
    task("followup.task_overdue", 3),  # never planned: a placeholder, overdue
    task("followup.task_due", 1, minutes=20),  # withdrawn: its due time stays
    task("followup.task_planned", 4, kind="spot_check"),
    task("followup.task_overdue", 4),
    task("followup.task_overdue", 4),  # counted once per notice
    task("followup.task_due", 4, minutes=30),
    task("followup.task_planned", 4),  # again: not new
]


async def state(pool: asyncpg.Pool, metric: str) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
    """The rows the events wrote and the totals of `metric`."""
    queries = {
        "hospital_sms_messages": "SELECT message_id, template, department, created_at, status,"
        " statuses FROM sms_messages ORDER BY message_id",
        "hospital_registration": "SELECT registration_id, department, channel, visit_type,"
        " cancelled_at, no_show FROM registrations ORDER BY registration_id",
        "hospital_followup": "SELECT task_id, kind, department, due_at, planned_at IS NOT NULL,"
        " status, overdue, closed_at FROM follow_up_tasks ORDER BY task_id",
    }  # fmt: skip
    async with pool.acquire() as conn:
        rows = await conn.fetch(next(q for k, q in queries.items() if metric.startswith(k)))
        totals = await conn.fetch(
            "SELECT metric, labels, value FROM counter_totals WHERE metric LIKE $1 || '%'",
            metric,
        )
    return [tuple(r) for r in rows], {f"{r['metric']}{r['labels']}": r["value"] for r in totals}


async def handled(dsn: str, batches: Sequence[Sequence[CloudEvent[Any]]], metric: str) -> Any:
    pool = await new_schema(dsn, "metrics_sms", "metrics")
    handler = MetricsHandler(Settings(), topic_for)
    try:
        for batch in batches:
            async with pool.acquire() as conn, conn.transaction():
                await handler.handle_batch(conn, batch)
        return await state(pool, metric)
    finally:
        await pool.close()


async def one_each_as_batches(dsn: str, events: list[CloudEvent[Any]], metric: str) -> Any:
    """What the events write one batch each, checked equal to what they write in one batch
    and in two (split inside a run)."""
    one_each = await handled(dsn, [[e] for e in events], metric)
    assert await handled(dsn, [events], metric) == one_each
    assert await handled(dsn, [events[:3], events[3:]], metric) == one_each
    return one_each


async def test_a_batch_of_sms_statuses_counts_what_they_count_one_batch_each(stack_env) -> None:  # type: ignore[no-untyped-def]
    sms = "hospital_sms_messages"
    rows, totals = await one_each_as_batches(stack_env["DATABASE_URL"], EVENTS, sms)
    assert totals == {
        sms + '{"status":"submitted","template":"reminder"}': 2,
        sms + '{"status":"delivered","template":"reminder"}': 2,
        sms + '{"status":"expired","template":"reminder"}': 2,
        sms + '{"status":"failed","template":"unknown"}': 1,
    }
    by_id = {r[0]: r for r in rows}
    assert set(by_id) == {"M1", "M2", "M4", "M5"}
    assert by_id["M1"][3] == NOW + timedelta(minutes=1)
    assert by_id["M1"][5] == ["submitted", "delivered"]
    assert by_id["M4"][1:] == ("reminder", None, NOW, "expired", ["failed", "expired"])
    assert by_id["M5"][4:] == ("submitted", ["delivered", "submitted"])


async def test_a_batch_of_registrations_counts_what_they_count_one_batch_each(stack_env) -> None:  # type: ignore[no-untyped-def]
    metric = "hospital_registration"
    rows, totals = await one_each_as_batches(stack_env["DATABASE_URL"], REGISTRATIONS, metric)
    assert totals == {
        'hospital_registrations{"channel":"online","department":"CARD","kind":"first"}': 2,
        'hospital_registrations{"channel":"online","department":"ORTH","kind":"first"}': 1,
        'hospital_registration_cancellations{"channel":"online","department":"CARD"}': 2,
        'hospital_registration_cancellations{"channel":"unknown","department":"unknown"}': 2,
        'hospital_registration_no_shows{"department":"CARD"}': 2,
        'hospital_registration_no_shows{"department":"unknown"}': 2,
    }
    assert rows == [
        ("R000001", "CARD", "online", "first", NOW + timedelta(minutes=3), True),
        ("R000002", "CARD", "online", "first", NOW + timedelta(minutes=5), True),
        ("R000003", "ORTH", "online", "first", None, False),
    ]


async def test_a_batch_of_task_events_counts_what_they_count_one_batch_each(stack_env) -> None:  # type: ignore[no-untyped-def]
    metric = "hospital_followup"
    rows, totals = await one_each_as_batches(stack_env["DATABASE_URL"], TASKS, metric)
    card = '{"department":"CARD","kind":"inpatient_discharge"}'
    assert totals == {
        f"hospital_followup_tasks_planned{card}": 2,
        'hospital_followup_tasks_planned{"department":"CARD","kind":"spot_check"}': 1,
        f"hospital_followup_tasks_withdrawn{card}": 2,
        f"hospital_followup_tasks_overdue{card}": 3,
    }
    hour = timedelta(hours=1)
    assert rows == [
        ("T1", "inpatient_discharge", "CARD", NOW + hour + timedelta(minutes=10), True, "withdrawn",
         False, NOW),
        ("T2", "inpatient_discharge", "CARD", NOW + 2 * hour, True, "withdrawn", False, NOW),
        ("T3", "inpatient_discharge", "CARD", NOW + 3 * hour, False, "open", True, None),
        ("T4", "spot_check", "CARD", NOW + 4 * hour + timedelta(minutes=30), True, "open", True,
         None),
    ]  # fmt: skip


async def test_a_batch_of_three_topics_interleaved_counts_what_they_count_one_by_one(
    stack_env,
) -> None:  # type: ignore[no-untyped-def]
    """Metrics' one consumer reads all its topics: a batch interleaves them (partition by
    partition), and `handle_batch` sorts it by topic before its runs."""
    mixed = [
        e
        for trio in itertools.zip_longest(EVENTS, REGISTRATIONS, TASKS)
        for e in trio
        if e is not None
    ]
    assert len({topic_for(e.type) for e in mixed[:3]}) == 3  # interleaved from the start
    dsn = stack_env["DATABASE_URL"]
    for metric in ("hospital_sms_messages", "hospital_registration", "hospital_followup"):
        assert await handled(dsn, [mixed], metric) == await handled(
            dsn, [[e] for e in mixed], metric
        ), metric
