"""SQL of enquiries (咨询) and of praise and suggestions (表扬、建议), asyncpg. The patient's
phone and the free text of each (`SEALED`) are sealed on the way in and opened on the way out
(field_crypto.py), here and nowhere else."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg
from pydantic_core import to_json

from complaints.repository import HISTORY_SEALED, reseal_detail_batch
from hospital_shared.field_crypto import open_fields, seal_fields
from hospital_shared.time_limits import past_due_sql, past_warning_sql
from hospital_shared.vocabulary import EnquiryStatus, LimitState

Row = dict[str, Any]

SEALED = {
    "enquiries": ("patient_phone", "question", "answer"),
    "feedback": ("patient_phone", "text", "answer"),
}


def opened(table: str, row: Mapping[str, Any]) -> Row:
    """A row of `table` as read, its sealed columns opened."""
    return open_fields(row, SEALED[table])


async def by_external_id(conn: asyncpg.Connection, table: str, external_id: str) -> Row | None:
    """The enquiry or feedback recorded under `external_id`, if any. It waits (to the end of
    the transaction) for another request recording under the same id, so that two copies of
    one request sent at once record it once: call it in the transaction that records."""
    assert table in ("enquiries", "feedback")
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{table}:{external_id}"
    )
    row = await conn.fetchrow(f"SELECT * FROM {table} WHERE external_id = $1", external_id)
    return opened(table, row) if row is not None else None


async def next_number(conn: asyncpg.Connection, sequence: str) -> int:
    """The next number of `enquiry_numbers` or `feedback_numbers` (never handed out twice)."""
    assert sequence in ("enquiry_numbers", "feedback_numbers")
    value: int = await conn.fetchval(f"SELECT nextval('{sequence}')")
    return value


async def insert(conn: asyncpg.Connection, table: str, row: Row) -> Row:
    assert table in ("enquiries", "feedback")
    columns = ", ".join(row)
    values = ", ".join(f"${i}" for i in range(1, len(row) + 1))
    inserted = await conn.fetchrow(
        f"INSERT INTO {table} ({columns}) VALUES ({values}) RETURNING *",
        *seal_fields(row, SEALED[table]).values(),
    )
    assert inserted is not None
    return opened(table, inserted)


async def by_number(
    conn: asyncpg.Connection, table: str, number: str, *, for_update: bool = False
) -> Row | None:
    assert table in ("enquiries", "feedback")
    column = "enquiry_number" if table == "enquiries" else "feedback_number"
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT * FROM {table} WHERE {column} = $1{lock}", number)
    return opened(table, row) if row else None


async def update(conn: asyncpg.Connection, table: str, row_id: int, changes: Row) -> Row:
    assert table in ("enquiries", "feedback")
    sets = ", ".join(f"{col} = ${i}" for i, col in enumerate(changes, start=2))
    row = await conn.fetchrow(
        f"UPDATE {table} SET {sets} WHERE id = $1 RETURNING *",
        row_id,
        *seal_fields(changes, SEALED[table]).values(),
    )
    assert row is not None
    return opened(table, row)


def _in_state(state: LimitState, now: str) -> str:
    """An open enquiry's time limit in `state` at `now` (a parameter), as `running_state` says:
    breached past its due time, warning from its warning point to it, running before."""
    due, warned = past_due_sql("due_at", now), past_warning_sql("warn_at", now)
    if state == LimitState.BREACHED:
        return due
    return f"{warned} AND NOT ({due})" if state == LimitState.WARNING else f"NOT ({warned})"


async def listed(
    conn: asyncpg.Connection,
    table: str,
    *,
    filters: Mapping[str, Any],
    visible_to: Mapping[str, Any] | None,
    people: tuple[str, ...],
    departments: tuple[str, ...],
    limit: int,
    before: int | None = None,
    limit_state: tuple[LimitState, datetime] | None = None,
) -> list[Row]:
    """Rows of `table` matching `filters` (column -> value, None ignored), newest first,
    those before id `before`, that the caller may see: `visible_to` None is everything; else rows where one of `people` columns is the
    caller, or (a supervisor) one of `departments` columns is the caller's department.
    `limit_state`: (an enquiry's time limit's state, now): the open ones in that state."""
    assert table in ("enquiries", "feedback")
    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    for column, value in filters.items():
        if value is not None:
            where.append(f"{column} = {arg(value)}")
    if limit_state is not None:
        state, now = limit_state
        where.append(f"status = {arg(EnquiryStatus.OPEN.value)} AND {_in_state(state, arg(now))}")
    if visible_to is not None:
        me = arg(visible_to["staff_id"])
        mine = [f"{c} = {me}" for c in people]
        if visible_to.get("department"):
            dept = arg(visible_to["department"])
            mine += [f"{c} = {dept}" for c in departments]
        where.append("(" + " OR ".join(mine) + ")")
    if before is not None:  # a keyset page: those older than the previous page's last
        where.append(f"id < {arg(before)}")
    sql = f"SELECT * FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY id DESC LIMIT {arg(limit)}"
    return [opened(table, r) for r in await conn.fetch(sql, *args)]


async def add_history(
    conn: asyncpg.Connection,
    enquiry_id: int,
    *,
    at: datetime,
    actor_id: str,
    actor_role: str,
    action: str,
    detail: Row | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO enquiry_history (enquiry_id, at, actor_id, actor_role, action, detail)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
        enquiry_id,
        at,
        actor_id,
        actor_role,
        action,
        to_json(seal_fields(detail or {}, HISTORY_SEALED), fallback=str).decode(),
    )


async def history_of(conn: asyncpg.Connection, enquiry_id: int) -> list[Row]:
    rows = await conn.fetch(
        "SELECT at, actor_id, actor_role, action, detail FROM enquiry_history"
        " WHERE enquiry_id = $1 ORDER BY id",
        enquiry_id,
    )
    return [
        {**dict(r), "detail": open_fields(json.loads(r["detail"]), HISTORY_SEALED)} for r in rows
    ]


async def reseal_history_batch(conn: asyncpg.Connection, batch_size: int) -> int:
    """The re-seal job's batch for the enquiries' history (its hand-over reasons)."""
    return await reseal_detail_batch(conn, batch_size, table="enquiry_history", keys=HISTORY_SEALED)


_DUE = f"""
SELECT * FROM enquiries
WHERE status = 'open'
  AND ((warned_at IS NULL AND {past_warning_sql("warn_at", "$1")})
       OR (breached_at IS NULL AND {past_due_sql("due_at", "$1")}))
ORDER BY warn_at
LIMIT $2
FOR UPDATE SKIP LOCKED
"""


async def due_enquiries(conn: asyncpg.Connection, now: datetime, batch_size: int) -> list[Row]:
    """Open enquiries owing an alert, locked (instances take disjoint rows)."""
    return [opened("enquiries", r) for r in await conn.fetch(_DUE, now, batch_size)]


async def record_alert(conn: asyncpg.Connection, enquiry_id: int, level: str, at: datetime) -> bool:
    """True the first time this enquiry's `level` alert is recorded (the unique constraint
    `enquiry_alert_once` is what makes an escalation fire once, however many timers run)."""
    recorded = await conn.fetchval(
        "INSERT INTO enquiry_alerts (enquiry_id, level, fired_at) VALUES ($1, $2, $3)"
        " ON CONFLICT ON CONSTRAINT enquiry_alert_once DO NOTHING RETURNING enquiry_id",
        enquiry_id,
        level,
        at,
    )
    return recorded is not None


async def purge_finished(
    conn: asyncpg.Connection, table: str, *, now: datetime, retention_days: int
) -> list[str]:
    """Delete up to 1,000 finished rows of `table` older than the retention period (enquiries
    with their history and alerts); their numbers. Open ones are kept."""
    assert table in ("enquiries", "feedback")
    column = "enquiry_number" if table == "enquiries" else "feedback_number"
    rows = await conn.fetch(
        f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE finished_at IS NOT NULL"
        " AND finished_at < $1::timestamptz - make_interval(days => $2::int)"
        f" ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED) RETURNING {column}",
        now,
        retention_days,
    )
    return [r[column] for r in rows]
