"""Every opt-out and every withdrawal of one, published (`notifications.opt-outs.v1`, through
the outbox, in the transaction that writes it) and read back by this service (`replay`).

Opt-outs come over HTTP (staff) and in patients' replies (MO), not from Kafka: a restore of the
database used to lose those made after the backup, and the patient was texted again. Read
back from Kafka after the restore like every other event, they are written again, each once
(by its `ref`; in normal running the row is already there and reading it back does nothing).
An opt-out and its withdrawal share the key, the opt-out's `ref`, so they are read back in
the order they were made; opt-outs of one patient under different refs are independent rows.
The number and the reason travel sealed, as stored (and the number's search hash)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg

from hospital_shared import topics
from hospital_shared.events import CloudEvent, make_event
from hospital_shared.outbox import add_many_to_outbox
from hospital_shared.service_events.notifications import OptOutRecorded, OptOutRevoked
from hospital_shared.vocabulary import EventName

SOURCE = "urn:hospital:notifications"


async def publish_recorded(conn: asyncpg.Connection, row: Mapping[str, Any]) -> None:
    """`sms.opt_out_recorded` for the opt-out `row` (as stored), in the current transaction."""
    ref = str(row["ref"])
    data = OptOutRecorded(
        opt_out_ref=ref, patient_id=row["patient_id"], phone_sealed=row["phone"],
        phone_hash=row["phone_hash"], source=row["source"], reason_sealed=row["reason"],
        created_by=row["created_by"], created_at=row["created_at"],
    )  # fmt: skip
    event = _event(EventName.OPT_OUT_RECORDED, data, ref, row["created_at"], "recorded")
    await add_many_to_outbox(conn, [(event, topics.OPT_OUTS, ref)])


async def publish_revoked(conn: asyncpg.Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """`sms.opt_out_revoked` for each opt-out just withdrawn (ref, revoked_at, revoked_by)."""
    entries = []
    for row in rows:
        ref = str(row["ref"])
        data = OptOutRevoked(
            opt_out_ref=ref, revoked_by=row["revoked_by"], revoked_at=row["revoked_at"]
        )
        event = _event(EventName.OPT_OUT_REVOKED, data, ref, row["revoked_at"], "revoked")
        entries.append((event, topics.OPT_OUTS, ref))
    await add_many_to_outbox(conn, entries)


def _event(
    type_: str, data: OptOutRecorded | OptOutRevoked, ref: str, at: datetime, what: str
) -> CloudEvent[Any]:
    # one event per opt-out and change: an opt-out is recorded once and withdrawn once
    return make_event(
        type_, data, source=SOURCE, subject=ref, time=at.astimezone(UTC),
        event_id=f"opt-out:{ref}:{what}",
    )  # fmt: skip
