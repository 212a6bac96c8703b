"""Periodic jobs, safe with several instances running:
- assignment: gives planned tasks to the least-loaded eligible staff member (one instance at
  a time, under an advisory lock, so loads are counted right);
- due/overdue scanner: publishes `followup.task_due` when a call window opens and
  `followup.task_overdue` when it closes without an outcome, once per attempt (the
  `*_published_attempt` columns, claimed with FOR UPDATE SKIP LOCKED);
- retention: deletes closed follow-up records older than the retention period (2 years).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog
from prometheus_client import Counter

from followup import outgoing, roster
from followup.assignment import ASSIGNMENT_LOCK_KEY, Unassigned, assign_all, open_slots
from followup.policy import PolicyBook
from hospital_shared import topics
from hospital_shared.outbox import add_many_to_outbox
from hospital_shared.service_events.followup import FollowUpTaskDue, FollowUpTaskOverdue
from hospital_shared.vocabulary import EventName

log = structlog.get_logger(__name__)

TRANSITIONS = Counter("followup_timer_transitions_total", "Due/overdue events published", ["kind"])


def after_start_delay(
    delay_s: float,
    job: Callable[[], Awaitable[int]],
    *,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[], Awaitable[int]]:
    """`job`, doing nothing (0 done) until `delay_s` after now (`jobs_start_delay_s`)."""
    held_until = clock() + delay_s

    async def run() -> int:
        return 0 if clock() < held_until else await job()

    return run


async def assign_pending(pool: asyncpg.Pool, book: PolicyBook, *, batch_size: int) -> int:
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval(f"SELECT pg_try_advisory_xact_lock({ASSIGNMENT_LOCK_KEY})"):
            return 0
        staff = await roster.active_staff(conn)
        loads = await roster.open_loads(conn)
        slots = open_slots(staff, loads)
        if not slots:
            return 0
        fallbacks = {code: p.fallback_department for code, p in book.overrides.items()}
        rows = await conn.fetch(
            "SELECT task_id, kind, patient_id, department_code, due_at, roles, assignee_id"
            " FROM follow_up_tasks t WHERE status = 'planned' AND EXISTS ("
            "   SELECT 1 FROM unnest($2::text[], $3::text[]) AS s(department, role)"
            "   WHERE s.role = ANY(t.roles) AND s.department IN (t.department_code,"
            "     COALESCE((SELECT f.fallback FROM unnest($4::text[], $5::text[])"
            "       AS f(department, fallback) WHERE f.department = t.department_code), $6)))"
            " ORDER BY due_at, task_id LIMIT $1 FOR UPDATE SKIP LOCKED",
            batch_size,
            [d for d, _ in slots], [r for _, r in slots],
            list(fallbacks), list(fallbacks.values()), book.default.fallback_department,
        )  # fmt: skip
        if not rows:
            return 0
        wanted = [
            Unassigned(
                r["task_id"],
                r["department_code"],
                tuple(r["roles"]),
                book.for_department(r["department_code"]).fallback_department,
            )
            for r in rows
        ]
        chosen = assign_all(wanted, staff, loads)
        if not chosen:
            return 0
        await conn.execute(
            "UPDATE follow_up_tasks t SET assignee_id = c.staff_id, status = 'assigned',"
            " updated_at = now() FROM unnest($1::text[], $2::text[]) AS c(task_id, staff_id)"
            " WHERE t.task_id = c.task_id",
            list(chosen),
            list(chosen.values()),
        )
        now = datetime.now(UTC)
        await add_many_to_outbox(conn, [
            (outgoing.assigned_event(row, assignee_id=chosen[row["task_id"]], time=now),
             topics.FOLLOWUP_TASKS, row["patient_id"])
            for row in rows
            if row["task_id"] in chosen
        ])  # fmt: skip
        return len(chosen)


async def publish_due_and_overdue(pool: asyncpg.Pool, *, batch_size: int) -> int:
    """One pass: claim open tasks whose due or overdue transition has not been published for
    their current attempt, mark it published and queue the event, all in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        now = datetime.now(UTC)
        due = await conn.fetch(
            "SELECT task_id, kind, patient_id, department_code, assignee_id, due_at,"
            " attempts_made, generation FROM follow_up_tasks WHERE status IN ('planned', 'assigned')"
            " AND not_before <= $1 AND due_published_attempt <= attempts_made"
            " ORDER BY not_before LIMIT $2 FOR UPDATE SKIP LOCKED",
            now, batch_size,
        )  # fmt: skip
        await _mark_and_queue(conn, due, "due", now)
        overdue = await conn.fetch(
            "SELECT task_id, kind, patient_id, department_code, assignee_id, due_at,"
            " attempts_made, generation FROM follow_up_tasks WHERE status IN ('planned', 'assigned')"
            " AND due_at < $1 AND overdue_published_attempt <= attempts_made"
            " ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            now, batch_size,
        )  # fmt: skip
        await _mark_and_queue(conn, overdue, "overdue", now)
    TRANSITIONS.labels("due").inc(len(due))
    TRANSITIONS.labels("overdue").inc(len(overdue))
    return len(due) + len(overdue)


# transition -> (the column marking it published for an attempt, event type, payload model)
_TRANSITION_EVENTS: dict[str, tuple[str, str, type[FollowUpTaskDue | FollowUpTaskOverdue]]] = {
    "due": ("due_published_attempt", EventName.TASK_DUE, FollowUpTaskDue),
    "overdue": ("overdue_published_attempt", EventName.TASK_OVERDUE, FollowUpTaskOverdue),
}


async def _mark_and_queue(
    conn: asyncpg.Connection, rows: list[asyncpg.Record], transition: str, now: datetime
) -> None:
    """Mark each claimed task's `transition` published for its current attempt and queue its
    event, in the rows' order: one UPDATE and one outbox statement for all of them (one of
    each per task cost a pass of 500 tasks a thousand round trips, during a backlog's drain
    too, when the backlog's calls fall due)."""
    if not rows:
        return
    column, event_type, model = _TRANSITION_EVENTS[transition]
    attempts = [r["attempts_made"] + 1 for r in rows]
    await conn.execute(
        f"UPDATE follow_up_tasks t SET {column} = c.attempt"
        " FROM unnest($1::text[], $2::int[]) AS c(task_id, attempt) WHERE t.task_id = c.task_id",
        [r["task_id"] for r in rows], attempts,
    )  # fmt: skip
    await add_many_to_outbox(conn, [
        (outgoing.new_event(
            event_type,
            model(
                task_id=r["task_id"], kind=r["kind"], patient_id=r["patient_id"],
                department_code=r["department_code"], assignee_id=r["assignee_id"],
                due_at=r["due_at"], attempt=attempt,
            ),
            subject=r["patient_id"], time=now, event_id=f"{outgoing.life_id(r['task_id'], r['generation'])}:{transition}:{attempt}",
        ), topics.FOLLOWUP_TASKS, r["patient_id"])
        for r, attempt in zip(rows, attempts, strict=True)
    ])  # fmt: skip


async def purge_expired(pool: asyncpg.Pool, *, retention_days: int, batch_size: int) -> int:
    """Delete closed tasks (with their attempts), and stale withdrawals, past retention."""
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    deleted = 0
    async with pool.acquire() as conn:
        while True:
            status = await conn.execute(
                "DELETE FROM follow_up_tasks WHERE task_id IN (SELECT task_id FROM"
                " follow_up_tasks WHERE closed_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
                cutoff, batch_size,
            )  # fmt: skip
            n = int(status.split()[-1])
            deleted += n
            if n < batch_size:
                break
        await conn.execute("DELETE FROM withdrawals WHERE recorded_at < $1", cutoff)
    if deleted:
        log.info("follow-up records past retention deleted", deleted=deleted)
    return deleted
