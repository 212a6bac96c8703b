"""The duty rota in PostgreSQL (`duty_shifts`): shifts as `duty_rota.Shift`, and who is on duty
for several (department, window, moment) questions at once, as the message writer asks them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields
from datetime import datetime
from typing import Any

import asyncpg

from notifications.duty_rota import Shift, on_duty

DutyQuestion = tuple[str | None, str | None, datetime]  # department, window, moment


_FIELDS = tuple(f.name for f in fields(Shift))


def shift_of(row: Any) -> Shift:
    return Shift(*(row[name] for name in _FIELDS))


async def shifts_between(
    conn: asyncpg.Connection, departments: Collection[str] | None, start: datetime, end: datetime
) -> list[asyncpg.Record]:
    """The rota's shifts (not removed) that overlap [start, end], of these departments (all
    when None), by start."""
    return await conn.fetch(  # type: ignore[no-any-return]
        "SELECT * FROM duty_shifts WHERE removed_at IS NULL AND starts_at <= $3 AND ends_at > $2"
        " AND ($1::text[] IS NULL OR department_code = ANY($1::text[]))"
        " ORDER BY starts_at, id",
        list(departments) if departments is not None else None,
        start,
        end,
    )


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
