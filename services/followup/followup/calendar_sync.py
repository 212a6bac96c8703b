"""The working-day calendar in the follow-up service: the years operations add through the
complaints service's calendar API arrive as `calendar.year_saved` events, are kept in this
service's `calendar_years` table (in the consumer's transaction, so a redelivery writes the
same year again) and put in force in `policy.OFFICIAL_CALENDAR`; every instance rereads the
table periodically, so the instances that did not consume the event take the year too."""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog

from followup.policy import OFFICIAL_CALENDAR
from hospital_shared.calendar_store import save_schedule
from hospital_shared.events import CloudEvent
from hospital_shared.working_calendar import CalendarDataError, schedule_from_mapping

CALENDAR_EVENT = "calendar.year_saved"
log = structlog.get_logger(__name__)


async def on_calendar_event(conn: asyncpg.Connection, event: CloudEvent[Any]) -> None:
    if event.type != CALENDAR_EVENT:
        return
    data = event.data.model_dump(mode="json") if hasattr(event.data, "model_dump") else event.data
    try:
        schedule = schedule_from_mapping(data)
    except CalendarDataError as error:  # the publisher checks the same rules: a bug, not input
        log.error("calendar year refused", event_id=event.id, field=error.field)
        return
    await save_schedule(conn, schedule, by=str(data.get("saved_by") or "calendar event"))
    OFFICIAL_CALENDAR.install(schedule)
    log.info("working-day calendar year saved", year=schedule.year, event_id=event.id)


async def reload(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        await OFFICIAL_CALENDAR.reload(conn)
    return 0
