"""The SMS lifecycle events this service publishes (see service_events/notifications.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from hospital_shared import topics
from hospital_shared.events import make_event
from hospital_shared.outbox import add_to_outbox
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
    if row["channel"] != "sms":
        return
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
    event = make_event(
        f"sms.{status}",
        data,
        source=SOURCE,
        subject=str(row["id"]),
        time=now,
        # one event per message and status: a repeated receipt cannot publish twice
        event_id=f"{row['id']}:{status}",
    )
    await add_to_outbox(conn, event, topic=topics.NOTIFICATIONS, key=str(row["id"]))
