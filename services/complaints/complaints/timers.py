"""The time-limit timer and the retention purge: background jobs, safe with several instances.

A timer pass locks the deadlines that are due with `FOR UPDATE SKIP LOCKED` (instances take
disjoint rows), and records every alert in `time_limit_alerts`, whose unique constraint is
what guarantees one warning and one breach per case, cycle and limit whatever happens.
"""

from __future__ import annotations

import collections
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from prometheus_client import Counter

from complaints import publishing, roster
from complaints import repository as repo
from complaints.policy import LimitName
from hospital_shared.outbox import add_encoded_to_outbox
from hospital_shared.service_events.complaints import ComplaintTimeLimitReached
from hospital_shared.time_limits import past_due_sql, past_warning_sql
from hospital_shared.vocabulary import EventName, LimitLevel

log = structlog.get_logger(__name__)

ALERTS = Counter(
    "hospital_complaint_time_limit_alerts_total",
    "Complaint time-limit warnings and breaches fired",
    ["limit", "level"],
)
PURGED = Counter("hospital_complaint_cases_purged_total", "Cases removed by the retention job")

TIMER_ACTOR = ("system:timer", "system")
EVENT_TYPES: dict[str, EventName] = {
    LimitLevel.WARNING: EventName.CASE_TIME_LIMIT_WARNING,
    LimitLevel.BREACH: EventName.CASE_TIME_LIMIT_BREACHED,
}
Row = dict[str, Any]

_WARN = f"d.warned_at IS NULL AND {past_warning_sql('d.warn_at', '$1')}"
_BREACH = f"d.breached_at IS NULL AND {past_due_sql('d.due_at', '$1')}"
_DUE = f"""
SELECT d.case_id, d.cycle, d.limit_name, d.starts_at, d.due_at, d.warn_at,
       {_WARN} AS warn,
       {_BREACH} AS breach
FROM case_deadlines d
WHERE d.settled_at IS NULL
  AND (({_WARN}) OR ({_BREACH}))
ORDER BY d.warn_at
LIMIT $2
FOR UPDATE SKIP LOCKED
"""


LEVELS = (("warning", "warn"), ("breach", "breach"))


async def timer_pass(
    pool: asyncpg.Pool, *, now: datetime, batch_size: int, desk_department: str
) -> int:
    """Fire the warnings and breaches that are due; return how many were fired. One pass takes
    up to `batch_size` deadlines and writes them in a few bulk statements, so a backlog of
    overdue cases (after an outage) does not hold the consumer's database up for long."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(_DUE, now, batch_size)
        if not rows:
            return 0
        await _mark(conn, rows, now)
        wanted = [(dict(r), level) for r in rows for level, flag in LEVELS if r[flag]]
        first = await _record_alerts(conn, wanted, now)
        fired = [(due, level) for due, level in wanted if _alert_key(due, level) in first]
        await _announce(conn, fired, now, desk_department)
    return len(fired)


def _alert_key(due: Row, level: str) -> tuple[int, int, str, str]:
    return due["case_id"], due["cycle"], due["limit_name"], level


async def _mark(conn: asyncpg.Connection, rows: list[asyncpg.Record], now: datetime) -> None:
    await conn.execute(
        "UPDATE case_deadlines d"
        " SET warned_at = CASE WHEN u.warn THEN $6 ELSE d.warned_at END,"
        "     breached_at = CASE WHEN u.breach THEN $6 ELSE d.breached_at END"
        " FROM unnest($1::bigint[], $2::int[], $3::text[], $4::boolean[], $5::boolean[])"
        "   AS u(case_id, cycle, limit_name, warn, breach)"
        " WHERE d.case_id = u.case_id AND d.cycle = u.cycle AND d.limit_name = u.limit_name",
        [r["case_id"] for r in rows],
        [r["cycle"] for r in rows],
        [r["limit_name"] for r in rows],
        [r["warn"] for r in rows],
        [r["breach"] for r in rows],
        now,
    )


async def _record_alerts(
    conn: asyncpg.Connection, wanted: list[tuple[Row, str]], now: datetime
) -> set[tuple[int, int, str, str]]:
    """Record the alerts; the ones recorded for the first time (the others fired before)."""
    keys = [_alert_key(due, level) for due, level in wanted]
    recorded = await conn.fetch(
        "INSERT INTO time_limit_alerts (case_id, cycle, limit_name, level, fired_at)"
        " SELECT *, $5::timestamptz FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[])"
        " ON CONFLICT ON CONSTRAINT time_limit_alert_once DO NOTHING"
        " RETURNING case_id, cycle, limit_name, level",
        *(list(column) for column in zip(*keys, strict=True)),
        now,
    )
    return {(r["case_id"], r["cycle"], r["limit_name"], r["level"]) for r in recorded}


def addressee(case: Row, due: Row) -> str | None:
    """Who hears about a limit: the director of an escalated case for the director's own
    limit, else the case's supervisor (None: the desk's)."""
    if due["limit_name"] == LimitName.DIRECTOR_DECISION.value and case.get("director_id"):
        return case["director_id"]  # type: ignore[no-any-return]
    return case["supervisor_id"]  # type: ignore[no-any-return]


async def _announce(
    conn: asyncpg.Connection, fired: list[tuple[Row, str]], now: datetime, desk: str
) -> None:
    """Audit and publish each alert, for the case's supervisor or else the desk's."""
    if not fired:
        return
    cases = await repo.cases_by_id(conn, {d["case_id"] for d, _ in fired})
    desk_supervisor = None
    if any(not case["supervisor_id"] for case in cases.values()):
        desk_supervisor = await roster.least_loaded_staff(conn, desk, ["supervisor"])
    supervisors = {
        s for due, _ in fired if (s := addressee(cases[due["case_id"]], due) or desk_supervisor)
    }
    departments = await roster.departments_of(conn, supervisors)
    audits = []
    events = []
    for due, level in fired:
        case = cases[due["case_id"]]
        supervisor = addressee(case, due) or desk_supervisor
        audit, event = _alert(case, due, level, supervisor, departments, now)
        audits.append(audit)
        events.append(event)
    await repo.append_audits(conn, audits)
    await add_encoded_to_outbox(conn, events)
    # Once per limit and level: a labelled counter costs more than building the alert.
    for (limit, level), n in collections.Counter(
        (d["limit_name"], level) for d, level in fired
    ).items():
        ALERTS.labels(limit, level).inc(n)


def _alert(
    case: Row,
    due: Row,
    level: str,
    supervisor: str | None,
    departments: dict[str, str],
    now: datetime,
) -> tuple[repo.AuditEntry, Any]:
    """The audit entry and the outgoing event of one limit reaching `level` on `case`."""
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
        supervisor_department=departments.get(supervisor) if supervisor else None,
        occurred_at=now,
    )
    audit = repo.AuditEntry(
        case["id"],
        at=now,
        actor_id=TIMER_ACTOR[0],
        actor_role=TIMER_ACTOR[1],
        action=f"time_limit_{level}",
        from_status=case["status"],
        to_status=case["status"],
        detail={"limit": due["limit_name"], "cycle": due["cycle"], "due_at": due["due_at"]},
    )
    # once per limit, cycle and level: the same id when a restored database fires it again
    once = publishing.once_per_case_id(EVENT_TYPES[level], case, due["limit_name"], due["cycle"])
    return audit, publishing.outgoing(EVENT_TYPES[level], alert, case=case, at=now, event_id=once)


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


def utc_now() -> datetime:
    return datetime.now(UTC)
