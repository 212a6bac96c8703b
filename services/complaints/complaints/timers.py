"""The time-limit timer and the retention purge: background jobs, safe with several instances.

A timer pass locks the deadlines that are due with `FOR UPDATE SKIP LOCKED` (instances take
disjoint rows), and records every alert in `time_limit_alerts`, whose unique constraint is
what guarantees one warning and one breach per case, cycle and limit whatever happens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from prometheus_client import Counter

from complaints import publishing, roster
from complaints import repository as repo
from hospital_shared.db import TRANSIENT_DB_ERRORS
from hospital_shared.service_events.complaints import ComplaintTimeLimitReached

log = structlog.get_logger(__name__)

ALERTS = Counter(
    "hospital_complaint_time_limit_alerts_total",
    "Complaint time-limit warnings and breaches fired",
    ["limit", "level"],
)
PURGED = Counter("hospital_complaint_cases_purged_total", "Cases removed by the retention job")

TIMER_ACTOR = ("system:timer", "system")

_DUE = """
SELECT d.case_id, d.cycle, d.limit_name, d.starts_at, d.due_at, d.warn_at,
       d.warned_at IS NULL AND d.warn_at <= $1 AS warn,
       d.breached_at IS NULL AND d.due_at <= $1 AS breach
FROM case_deadlines d
WHERE d.settled_at IS NULL
  AND ((d.warned_at IS NULL AND d.warn_at <= $1) OR (d.breached_at IS NULL AND d.due_at <= $1))
ORDER BY d.warn_at
LIMIT $2
FOR UPDATE SKIP LOCKED
"""


async def _desk_supervisor(conn: asyncpg.Connection, desk: str) -> str | None:
    return await roster.least_loaded_staff(conn, desk, ["supervisor"])


async def timer_pass(
    pool: asyncpg.Pool, *, now: datetime, batch_size: int, desk_department: str
) -> int:
    """Fire the warnings and breaches that are due; return how many were fired."""
    fired = 0
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(_DUE, now, batch_size)
        for row in rows:
            for level, flag, column in (
                ("warning", row["warn"], "warned_at"),
                ("breach", row["breach"], "breached_at"),
            ):
                if not flag:
                    continue
                await conn.execute(
                    f"UPDATE case_deadlines SET {column} = $4"
                    " WHERE case_id = $1 AND cycle = $2 AND limit_name = $3",
                    row["case_id"],
                    row["cycle"],
                    row["limit_name"],
                    now,
                )
                first = await conn.fetchval(
                    "INSERT INTO time_limit_alerts (case_id, cycle, limit_name, level, fired_at)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT ON CONSTRAINT time_limit_alert_once"
                    " DO NOTHING RETURNING 1",
                    row["case_id"],
                    row["cycle"],
                    row["limit_name"],
                    level,
                    now,
                )
                if first:
                    await _announce(conn, dict(row), level, now, desk_department)
                    fired += 1
    return fired


async def _announce(
    conn: asyncpg.Connection, due: dict[str, Any], level: str, now: datetime, desk: str
) -> None:
    case = await conn.fetchrow("SELECT * FROM cases WHERE id = $1", due["case_id"])
    assert case is not None
    supervisor = case["supervisor_id"] or await _desk_supervisor(conn, desk)
    supervisor_row = await roster.staff_member(conn, supervisor) if supervisor else None
    alert = ComplaintTimeLimitReached(
        case_number=case["case_number"],
        limit=due["limit_name"],
        level=level,
        cycle=due["cycle"],
        starts_at=due["starts_at"],
        due_at=due["due_at"],
        status=case["status"],
        channel=case["channel"],
        category=case["category"],
        priority=case["priority"],
        department_code=case["department_code"],
        assignee_id=case["assignee_id"],
        supervisor_id=supervisor,
        supervisor_department=supervisor_row["department_code"] if supervisor_row else None,
        occurred_at=now,
    )
    event_type = (
        "complaint.time_limit_warning" if level == "warning" else "complaint.time_limit_breached"
    )
    await repo.append_audit(
        conn,
        case["id"],
        at=now,
        actor_id=TIMER_ACTOR[0],
        actor_role=TIMER_ACTOR[1],
        action=f"time_limit_{level}",
        from_status=case["status"],
        to_status=case["status"],
        detail={"limit": due["limit_name"], "cycle": due["cycle"], "due_at": due["due_at"]},
    )
    await publishing.publish(conn, event_type, alert, case=dict(case), at=now)
    ALERTS.labels(due["limit_name"], level).inc()


async def purge_expired(pool: asyncpg.Pool, *, now: datetime, retention_days: int) -> list[str]:
    """Delete finished cases (closed or withdrawn) older than the retention period, with their
    deadlines, alerts and audit trail; log the case numbers removed. Open cases are kept."""
    async with pool.acquire() as conn, conn.transaction():
        # The audit trail refuses deletes except inside this transaction.
        await conn.execute("SET LOCAL complaints.purging = 'on'")
        rows = await conn.fetch(
            "DELETE FROM cases WHERE id IN (SELECT id FROM cases WHERE finished_at IS NOT NULL"
            " AND finished_at < $1::timestamptz - make_interval(days => $2::int)"
            " ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED) RETURNING case_number",
            now,
            retention_days,
        )
    removed = [r["case_number"] for r in rows]
    if removed:
        PURGED.inc(len(removed))
        log.info(
            "retention purge removed complaint cases",
            count=len(removed),
            case_numbers=removed,
            retention_days=retention_days,
        )
    return removed


async def run_every(interval_s: float, job: Callable[[], Awaitable[Any]], *, name: str) -> None:
    """Run `job` now and then every `interval_s` until cancelled; errors are logged, not fatal."""
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except TRANSIENT_DB_ERRORS as exc:
            log.warning("background job failed, will retry", job=name, error=repr(exc))
        except Exception:
            log.exception("background job failed", job=name)
        await asyncio.sleep(interval_s)


def utc_now() -> datetime:
    return datetime.now(UTC)
