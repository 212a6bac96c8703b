"""The duty rota in PostgreSQL (`duty_shifts`): shifts as `duty_rota.Shift`, and who is on duty
for several (department, window, moment) questions at once, as the message writer asks them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields
from datetime import datetime
from typing import Any

import asyncpg

from notifications.duty_rota import Shift, on_duty
from notifications.refusals import Invalid, NotFound

DutyQuestion = tuple[str | None, str | None, datetime]  # department, window, moment


_FIELDS = tuple(f.name for f in fields(Shift))


def shift_of(row: Any) -> Shift:
    return Shift(*(row[name] for name in _FIELDS))


async def shifts_between(
    conn: asyncpg.Connection,
    departments: Collection[str] | None,
    start: datetime,
    end: datetime,
    *,
    after: tuple[datetime, int] | None = None,
    limit: int | None = None,
) -> list[asyncpg.Record]:
    """The rota's shifts (not removed) that overlap [start, end], of these departments (all
    when None), by start; at most `limit`, those after `after` (a shift's start and id: the
    previous page's last) when given."""
    at, last_id = after if after is not None else (None, None)
    return await conn.fetch(  # type: ignore[no-any-return]
        "SELECT * FROM duty_shifts WHERE removed_at IS NULL AND starts_at <= $3 AND ends_at > $2"
        " AND ($1::text[] IS NULL OR department_code = ANY($1::text[]))"
        " AND ($4::timestamptz IS NULL OR (starts_at, id) > ($4, $5::bigint))"
        " ORDER BY starts_at, id LIMIT $6",
        list(departments) if departments is not None else None,
        start,
        end,
        at,
        last_id,
        limit,
    )


async def add_shift(conn: asyncpg.Connection, *, by: str, **shift: Any) -> asyncpg.Record:
    """A new shift on the rota, of an active member of the roster (else Invalid)."""
    active = await conn.fetchval("SELECT active FROM staff WHERE staff_id = $1", shift["staff_id"])
    if not active:
        raise Invalid("staff_id", "not an active member of the roster")
    row = await conn.fetchrow(
        "INSERT INTO duty_shifts (department_code, queue_id, staff_id, starts_at, ends_at,"
        " created_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        shift["department_code"], shift["queue_id"], shift["staff_id"], shift["starts_at"],
        shift["ends_at"], by,
    )  # fmt: skip
    assert row is not None
    return row


async def remove_shift(conn: asyncpg.Connection, shift_id: int, *, by: str) -> None:
    done = await conn.fetchval(
        "UPDATE duty_shifts SET removed_at = now(), removed_by = $2"
        " WHERE id = $1 AND removed_at IS NULL RETURNING id",
        shift_id,
        by,
    )
    if done is None:
        raise NotFound("no such shift on the rota")


async def on_duty_many(
    conn: asyncpg.Connection, questions: Collection[DutyQuestion]
) -> dict[DutyQuestion, str]:
    """Who is on duty for each question, by the rota (staff no longer active on the roster do
    not count); a question nobody answers is left out (the caller falls back)."""
    asked = [q for q in questions if q[0] is not None]
    if not asked:
        return {}
    rows = await conn.fetch(
        "SELECT d.* FROM duty_shifts d JOIN staff s ON s.staff_id = d.staff_id AND s.active"
        " WHERE d.removed_at IS NULL AND d.department_code = ANY($1::text[])"
        " AND d.starts_at <= $3 AND d.ends_at > $2",
        sorted({q[0] for q in asked if q[0] is not None}),
        min(q[2] for q in asked),
        max(q[2] for q in asked),
    )
    shifts = [shift_of(r) for r in rows]
    found: dict[DutyQuestion, str] = {}
    for department, queue_id, at in asked:
        assert department is not None
        staff_id = on_duty(shifts, department_code=department, queue_id=queue_id, at=at)
        if staff_id is not None:
            found[(department, queue_id, at)] = staff_id
    return found
