"""Subscribers of the metrics service: every event -> facts and counter totals in the store.

`handle(conn, event)` runs inside the reliable consumer's transaction together with the
event's inbox row, so each event changes the store exactly once. Events are dispatched on
`event.type` through one table; a type without an entry is still counted in
`hospital_metrics_events_counted_total` and otherwise ignored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from hospital_shared.events import (
    CloudEvent,
    ComplaintChannel,
    Disposition,
    RegistrationChannel,
    VisitType,
)
from metrics import catalog, lifecycle
from metrics import repository as repo
from metrics.domain import field, label
from metrics.received import Handler, Received
from metrics.settings import Settings

CHANNELS = frozenset(c.value for c in RegistrationChannel)
COMPLAINT_CHANNELS = frozenset(c.value for c in ComplaintChannel)
VISIT_TYPES = frozenset(v.value for v in VisitType)
DISPOSITIONS = frozenset(d.value for d in Disposition)


# --- hospital.registrations.v1 -------------------------------------------------------


async def on_registration_created(conn: asyncpg.Connection, e: Received) -> None:
    department = label(field(e.data, "department.code"))
    channel = label(field(e.data, "channel"), allowed=CHANNELS)
    visit_type = label(field(e.data, "visit_type"), allowed=VISIT_TYPES)
    fresh = await repo.add_registration(
        conn,
        registration_id=str(e.data["registration_id"]),
        event_id=e.id,
        department=department,
        channel=channel,
        visit_type=visit_type,
        visit_at=e.at("appointment_at", "registered_at"),
    )
    if fresh:
        labels = {"department": department, "channel": channel, "kind": visit_type}
        await repo.count(conn, catalog.REGISTRATIONS, labels)


async def on_registration_cancelled(conn: asyncpg.Connection, e: Received) -> None:
    row = await repo.cancel_registration(conn, str(e.data["registration_id"]), e.at("cancelled_at"))
    labels = {"department": "unknown", "channel": "unknown"}
    if row is not None:
        labels = {"department": row["department"], "channel": row["channel"]}
    await repo.count(conn, catalog.REGISTRATION_CANCELLATIONS, labels)


async def on_registration_no_show(conn: asyncpg.Connection, e: Received) -> None:
    row = await repo.mark_no_show(conn, str(e.data["registration_id"]))
    department = row["department"] if row is not None else "unknown"
    await repo.count(conn, catalog.REGISTRATION_NO_SHOWS, {"department": department})


# --- hospital.discharges.v1 ----------------------------------------------------------


async def on_patient_discharged(conn: asyncpg.Connection, e: Received) -> None:
    department = label(field(e.data, "department.code"))
    disposition = label(field(e.data, "disposition"), allowed=DISPOSITIONS)
    fresh = await repo.add_discharge(
        conn,
        admission_id=str(e.data["admission_id"]),
        event_id=e.id,
        department=department,
        disposition=disposition,
        discharged_at=e.at("discharged_at"),
    )
    if fresh:
        labels = {"department": department, "disposition": disposition}
        await repo.count(conn, catalog.DISCHARGES, labels)


async def on_discharge_cancelled(conn: asyncpg.Connection, e: Received) -> None:
    row = await repo.cancel_discharge(conn, str(e.data["admission_id"]))
    department = row["department"] if row is not None else "unknown"
    await repo.count(conn, catalog.DISCHARGE_CANCELLATIONS, {"department": department})


# --- hospital.complaints.v1 ----------------------------------------------------------


async def on_complaint_submitted(conn: asyncpg.Connection, e: Received) -> None:
    channel = label(field(e.data, "channel"), allowed=COMPLAINT_CHANNELS)
    await repo.count(conn, catalog.COMPLAINTS_SUBMITTED, {"channel": channel})


HANDLERS: dict[str, Handler] = {
    "registration.created": on_registration_created,
    "registration.cancelled": on_registration_cancelled,
    "registration.no_show": on_registration_no_show,
    "patient.discharged": on_patient_discharged,
    "discharge.cancelled": on_discharge_cancelled,
    "complaint.submitted": on_complaint_submitted,
    **lifecycle.HANDLERS,
}


def make_handler(
    settings: Settings, topic_of: Callable[[str], str]
) -> Callable[[asyncpg.Connection, CloudEvent[Any]], Awaitable[None]]:
    """The reliable consumer's `handle`: dispatch on the type, count the event once."""

    async def handle(conn: asyncpg.Connection, event: CloudEvent[Any]) -> None:
        received = Received(
            id=event.id,
            type=event.type,
            time=event.time,
            data=event.data.model_dump(mode="python"),
            settings=settings,
        )
        handler = HANDLERS.get(event.type) or lifecycle.fallback_for(received.type, received.data)
        if handler is not None:
            await handler(conn, received)
        labels = {"topic": topic_of(event.type), "kind": label(event.type)}
        await repo.count(conn, catalog.EVENTS_COUNTED, labels)

    return handle
