"""The enquiry timer: warns the supervisor at 80% of an open enquiry's limit and escalates to
them at 100%, once each, however many instances run.

It works as the complaint timer does (`timers.py`): due rows locked with `FOR UPDATE SKIP
LOCKED`, every alert recorded in `enquiry_alerts`, whose unique constraint is what makes the
escalation fire once; the alert, its history line and its event commit together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import structlog
from prometheus_client import Counter

from complaints import enquiry_store as store
from complaints import roster
from complaints.enquiries import alert_levels
from complaints.enquiry_cases import supervisor_for
from complaints.enquiry_events import publish
from complaints.timers import TIMER_ACTOR
from hospital_shared.service_events.enquiries import EnquiryTimeLimitReached
from hospital_shared.vocabulary import EventName, LimitLevel

ALERTS = Counter(
    "hospital_enquiry_time_limit_alerts_total",
    "Enquiry time-limit warnings and escalations (breaches) fired",
    ["limit", "level"],
)
PURGED = Counter(
    "hospital_enquiries_purged_total",
    "Enquiries and feedback removed by the retention job",
    ["kind"],
)
log = structlog.get_logger(__name__)
EVENT_TYPES: dict[str, EventName] = {
    LimitLevel.WARNING: EventName.ENQUIRY_TIME_LIMIT_WARNING,
    LimitLevel.BREACH: EventName.ENQUIRY_TIME_LIMIT_BREACHED,
}
MARKS: dict[str, str] = {LimitLevel.WARNING: "warned_at", LimitLevel.BREACH: "breached_at"}
Row = dict[str, Any]


async def enquiry_timer_pass(
    pool: asyncpg.Pool, *, now: datetime, batch_size: int, desk_department: str
) -> int:
    """Fire the enquiry warnings and escalations that are due; return how many fired."""
    fired = 0
    async with pool.acquire() as conn, conn.transaction():
        for enquiry in await store.due_enquiries(conn, now, batch_size):
            levels = alert_levels(
                warn_at=enquiry["warn_at"],
                due_at=enquiry["due_at"],
                warned=enquiry["warned_at"] is not None,
                breached=enquiry["breached_at"] is not None,
                now=now,
            )
            await store.update(conn, "enquiries", enquiry["id"], {MARKS[lv]: now for lv in levels})
            for level in levels:
                if await store.record_alert(conn, enquiry["id"], level, now):
                    await _announce(conn, enquiry, level, now, desk_department)
                    fired += 1
    return fired


async def _announce(
    conn: asyncpg.Connection, enquiry: Row, level: str, now: datetime, desk: str
) -> None:
    """History line and event for the enquiry's supervisor, else the desk's."""
    supervisor = enquiry["supervisor_id"] or await supervisor_for(conn, desk)
    department = (
        (await roster.departments_of(conn, [supervisor])).get(supervisor) if supervisor else None
    )
    await store.add_history(
        conn,
        enquiry["id"],
        at=now,
        actor_id=TIMER_ACTOR[0],
        actor_role=TIMER_ACTOR[1],
        action="escalated" if level == LimitLevel.BREACH else "time_limit_warning",
        detail={"limit": enquiry["limit_name"], "due_at": enquiry["due_at"], "to": supervisor},
    )
    alert = EnquiryTimeLimitReached(
        enquiry_number=enquiry["enquiry_number"],
        limit=enquiry["limit_name"],
        level=level,
        starts_at=enquiry["taken_at"],
        due_at=enquiry["due_at"],
        channel=enquiry["channel"],
        complex=enquiry["complex"],
        department_code=enquiry["department_code"],
        owner_id=enquiry["owner_id"],
        supervisor_id=supervisor,
        supervisor_department=department,
        occurred_at=now,
    )
    await publish(conn, EVENT_TYPES[level], alert, subject=enquiry["enquiry_number"], at=now)
    ALERTS.labels(enquiry["limit_name"], level).inc()


async def purge_enquiries_and_feedback(
    pool: asyncpg.Pool, *, now: datetime, retention_days: int
) -> int:
    """Delete answered or converted enquiries and finished praise and suggestions older than
    the retention period (`COMPLAINTS_RETENTION_DAYS`, as for cases); log their numbers."""
    removed = 0
    for table in ("enquiries", "feedback"):
        async with pool.acquire() as conn, conn.transaction():
            numbers = await store.purge_finished(
                conn, table, now=now, retention_days=retention_days
            )
        if numbers:
            PURGED.labels(table).inc(len(numbers))
            log.info("retention purge removed records", kind=table, numbers=numbers)
        removed += len(numbers)
    return removed
