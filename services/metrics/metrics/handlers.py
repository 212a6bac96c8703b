"""Subscribers of the metrics service: every event -> facts and counter totals in the store.

`handle_batch(conn, events)` runs inside the reliable consumer's transaction together with the
events' inbox rows, so each event changes the store exactly once. Events are dispatched on
`event.type` through one table; a type without an entry is still counted in
`hospital_metrics_events_counted_total` and otherwise ignored.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, cast

import asyncpg

from hospital_shared.events import (
    CloudEvent,
    ComplaintChannel,
    ComplaintSubmitted,
    DischargeCancelled,
    Disposition,
    PatientDischarged,
    RegistrationCancelled,
    RegistrationChannel,
    RegistrationCreated,
    RegistrationNoShow,
    VisitType,
)
from hospital_shared.service_events.notifications import SMS_EVENT_TYPES
from hospital_shared.vocabulary import EventName
from metrics import appraisal_store, catalog, enquiries, lifecycle, queue_store, surveys
from metrics import repository as repo
from metrics.domain import label
from metrics.received import BulkHandler, Handler, Received, in_waves
from metrics.settings import Settings
from metrics.tally import Tally

CHANNELS = frozenset(c.value for c in RegistrationChannel)
COMPLAINT_CHANNELS = frozenset(c.value for c in ComplaintChannel)
VISIT_TYPES = frozenset(v.value for v in VisitType)
DISPOSITIONS = frozenset(d.value for d in Disposition)


# --- hospital.registrations.v1 -------------------------------------------------------


async def on_registrations_created(
    conn: asyncpg.Connection, run: Sequence[Received[RegistrationCreated]]
) -> None:
    """A run of registrations in one statement; a registration id seen again is not new."""
    rows: dict[str, dict[str, Any]] = {}
    for e in run:
        created = e.contract
        if created.registration_id not in rows:
            rows[created.registration_id] = {
                "registration_id": created.registration_id,
                "event_id": e.id,
                "department": label(created.department.code),
                "channel": label(created.channel, allowed=CHANNELS),
                "visit_type": label(created.visit_type, allowed=VISIT_TYPES),
                "visit_at": created.appointment_at or created.registered_at,
            }
    fresh = await repo.add_registrations(conn, list(rows.values()))
    for row in rows.values():
        if row["registration_id"] in fresh:
            labels = {k: row[k] for k in ("department", "channel")} | {"kind": row["visit_type"]}
            run[0].tally.add(catalog.REGISTRATIONS, labels)


RegistrationEvent = RegistrationCreated | RegistrationCancelled | RegistrationNoShow
REGISTRATION_TYPES: tuple[str, ...] = (
    EventName.REGISTRATION_CREATED, EventName.REGISTRATION_CANCELLED,
    EventName.REGISTRATION_NO_SHOW,
)  # fmt: skip


async def on_registration_events(
    conn: asyncpg.Connection, run: Sequence[Received[RegistrationEvent]]
) -> None:
    """Registrations, cancellations and no-shows of a run (in order), a wave of distinct
    registrations at a time (`in_waves`): a statement per kind a wave. One statement per
    cancellation or no-show, each also breaking the run of registrations around it, made
    ~60 round trips of a backlog's batch of 500 (the slowest consumer after the SMS')."""
    for wave in in_waves(run, key=lambda e: e.contract.registration_id):
        created = [e for e in wave if e.type == EventName.REGISTRATION_CREATED]
        if created:
            await on_registrations_created(
                conn, cast("Sequence[Received[RegistrationCreated]]", created)
            )
        cancelled = [e for e in wave if e.type == EventName.REGISTRATION_CANCELLED]
        if cancelled:
            await _registrations_cancelled(
                conn, cast("Sequence[Received[RegistrationCancelled]]", cancelled)
            )
        no_shows = [e for e in wave if e.type == EventName.REGISTRATION_NO_SHOW]
        if no_shows:
            await _no_shows(conn, cast("Sequence[Received[RegistrationNoShow]]", no_shows))


async def _registrations_cancelled(
    conn: asyncpg.Connection, wave: Sequence[Received[RegistrationCancelled]]
) -> None:
    """Counted by the registration's department and channel when this cancels it for the
    first time, as unknown otherwise (not seen, or cancelled before)."""
    found = await repo.cancel_registrations(
        conn, [(e.contract.registration_id, e.contract.cancelled_at) for e in wave]
    )
    for e in wave:
        labels = found.get(e.contract.registration_id, UNKNOWN_REGISTRATION)
        e.tally.add(catalog.REGISTRATION_CANCELLATIONS, labels)


async def _no_shows(conn: asyncpg.Connection, wave: Sequence[Received[RegistrationNoShow]]) -> None:
    found = await repo.mark_no_shows(conn, [e.contract.registration_id for e in wave])
    for e in wave:
        department = found.get(e.contract.registration_id, "unknown")
        e.tally.add(catalog.REGISTRATION_NO_SHOWS, {"department": department})


UNKNOWN_REGISTRATION = {"department": "unknown", "channel": "unknown"}


# --- hospital.discharges.v1 ----------------------------------------------------------


async def on_patients_discharged(
    conn: asyncpg.Connection, run: Sequence[Received[PatientDischarged]]
) -> None:
    """A run of discharges in one statement; an admission id seen again is not new."""
    rows: dict[str, dict[str, Any]] = {}
    for e in run:
        discharged = e.contract
        if discharged.admission_id not in rows:
            rows[discharged.admission_id] = {
                "admission_id": discharged.admission_id,
                "event_id": e.id,
                "department": label(discharged.department.code),
                "disposition": label(discharged.disposition, allowed=DISPOSITIONS),
                "discharged_at": discharged.discharged_at,
            }
    fresh = await repo.add_discharges(conn, list(rows.values()))
    for row in rows.values():
        if row["admission_id"] in fresh:
            labels = {"department": row["department"], "disposition": row["disposition"]}
            run[0].tally.add(catalog.DISCHARGES, labels)


async def on_discharge_cancelled(conn: asyncpg.Connection, e: Received[DischargeCancelled]) -> None:
    row = await repo.cancel_discharge(conn, e.contract.admission_id)
    department = row["department"] if row is not None else "unknown"
    e.tally.add(catalog.DISCHARGE_CANCELLATIONS, {"department": department})


# --- hospital.complaints.v1 ----------------------------------------------------------


async def on_complaint_submitted(conn: asyncpg.Connection, e: Received[ComplaintSubmitted]) -> None:
    channel = label(e.contract.channel, allowed=COMPLAINT_CHANNELS)
    e.tally.add(catalog.COMPLAINTS_SUBMITTED, {"channel": channel})


HANDLERS: dict[str, Handler] = {
    "discharge.cancelled": on_discharge_cancelled,
    "complaint.submitted": on_complaint_submitted,
    **lifecycle.HANDLERS,
    **enquiries.HANDLERS,
    "queue.reported": queue_store.on_queue_reported,
    **surveys.HANDLERS,
}

# Types written in bulk: a run of consecutive events of the type goes in one statement.
BULK_HANDLERS: dict[str, BulkHandler] = {
    **{type_: on_registration_events for type_ in REGISTRATION_TYPES},
    "patient.discharged": on_patients_discharged,
    **lifecycle.BULK_HANDLERS,
}


# Types whose consecutive events make one run for their bulk handler, whatever their type:
# an SMS's statuses (submitted, delivered...) come one after another, often in one batch;
# a registration's cancellation or no-show between other patients' registrations, a task's
# withdrawal or overdue notice between other tasks' plans.
_RUNS: dict[str, str] = (
    {str(t): "sms" for t in SMS_EVENT_TYPES}
    | {t: "registrations" for t in REGISTRATION_TYPES}
    | {t: "tasks" for t in lifecycle.TASK_WAVE_TYPES}
)


def _run_of(e: Received[Any]) -> str:
    return _RUNS.get(e.type, e.type)


async def _also_for_appraisal(
    conn: asyncpg.Connection, type_: str, run: Sequence[Received]
) -> None:
    """The per-staff facts (appraisal_store), after the type's own handler."""
    extra = appraisal_store.handler_for(type_)
    if extra is not None:
        for e in run:
            await extra(conn, e)


class MetricsHandler:
    """The reliable consumer's `handle_batch` (and `handle`, a batch of one): dispatch on the
    type, count every event once, write the batch's counter increments in one statement.

    Events are applied topic by topic (a stable sort: each partition, all of one topic, in its
    order), and within a topic in their order: consecutive events of a bulk type (of any SMS
    type, for SMS: `_RUNS`) are written together, the others one by one, so an event never
    overtakes one before it on its topic. Between topics there was never an order (they had a
    consumer each until release 0.14)."""

    def __init__(self, settings: Settings, topic_of: Callable[[str], str]) -> None:
        self.settings = settings
        self.topic_of = topic_of

    async def handle(self, conn: asyncpg.Connection, event: CloudEvent[Any]) -> None:
        await self.handle_batch(conn, [event])

    async def handle_batch(
        self, conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]]
    ) -> None:
        tally = Tally()
        # One consumer reads all of metrics' topics, and a batch comes partition by partition,
        # the topics' partitions interleaved. Each topic's events together (a stable sort: a
        # partition keeps its order, and all of it is one topic) make the same long runs of
        # one kind as when each topic had its own consumer: one statement a run, not one a
        # partition's stretch. Events of different topics had no order between them then.
        received = [
            Received(
                id=event.id,
                type=event.type,
                time=event.time,
                contract=event.data,
                settings=self.settings,
                tally=tally,
            )
            for event in sorted(events, key=lambda e: self.topic_of(e.type))
        ]
        for _, group in itertools.groupby(received, key=_run_of):
            run = list(group)
            bulk = BULK_HANDLERS.get(run[0].type)
            if bulk is not None:
                await bulk(conn, run)
            else:
                for e in run:
                    handler = HANDLERS.get(e.type)
                    if handler is not None:
                        await handler(conn, e)
            for type_, of_type in itertools.groupby(run, key=lambda r: r.type):
                same = list(of_type)
                await _also_for_appraisal(conn, type_, same)
                labels = {"topic": self.topic_of(type_), "kind": label(type_)}
                tally.add(catalog.EVENTS_COUNTED, labels, by=len(same))
        await tally.flush(conn)
