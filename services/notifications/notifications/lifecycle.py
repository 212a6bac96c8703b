"""The SMS lifecycle events this service publishes (see service_events/notifications.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import asyncpg

from hospital_shared import topics
from hospital_shared.events import CloudEvent, make_event
from hospital_shared.outbox import add_many_to_outbox
from hospital_shared.service_events.notifications import SmsStatusChanged

SOURCE = "urn:hospital:notifications"


async def publish_status(
    conn: asyncpg.Connection,
    row: Mapping[str, Any],
    status: str,
    *,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Queue `sms.<status>` for message `row` in the current transaction (SMS only)."""
    await publish_statuses(conn, [(row, status, reason)], now=now)


async def publish_statuses(
    conn: asyncpg.Connection,
    changes: Iterable[tuple[Mapping[str, Any], str, str | None]],
    *,
    now: datetime,
) -> None:
    """`publish_status` for many (row, status, reason), in order, in one statement."""
    await publish_status_changes(conn, [(row, s, reason, now) for row, s, reason in changes])


async def publish_status_changes(
    conn: asyncpg.Connection,
    changes: Iterable[tuple[Mapping[str, Any], str, str | None, datetime]],
) -> None:
    """`publish_statuses` for changes each at its own time (row, status, reason, when)."""
    entries = [
        (status_event(row, status, now=at, reason=reason), topics.NOTIFICATIONS, str(row["id"]))
        for row, status, reason, at in changes
        if row["channel"] == "sms"
    ]
    await add_many_to_outbox(conn, entries)


async def publish_finished(
    conn: asyncpg.Connection, rows: Iterable[Mapping[str, Any]], now: datetime
) -> None:
    """`sms.<status>` for messages just given their final status and reason."""
    await publish_statuses(conn, [(r, r["status"], r["status_reason"]) for r in rows], now=now)


def status_event(
    row: Mapping[str, Any], status: str, *, now: datetime, reason: str | None
) -> CloudEvent[Any]:
    data = SmsStatusChanged(
        message_id=str(row["id"]),
        template=row["template"],
        audience=row["audience"],
        status=status,  # type: ignore[arg-type]
        reason=reason,
        encoding=row["encoding"],
        segments=row["segments"],
        attempts=row["attempts"],
        source_event_id=row["source_event_id"],
        source_event_type=row["source_event_type"],
        requested_at=row["created_at"],
        occurred_at=now,
    )
    return make_event(
        f"sms.{status}",
        data,
        source=SOURCE,
        subject=str(row["id"]),
        time=now,
        # one event per message and status: a repeated receipt cannot publish twice
        event_id=f"{row['id']}:{status}",
    )
