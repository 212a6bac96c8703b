"""SQL of the complaints service (asyncpg; the connection's search_path is the service schema).

A case's phone number and free text (`CASE_SEALED`) are sealed here, on the way in, and
opened here, on the way out (field_crypto.py): the rest of the service sees plain values, a
raw dump of the table none of them."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import asyncpg
from pydantic_core import to_json

from complaints.policy import Deadline
from hospital_shared.calendar_store import report_missing
from hospital_shared.field_crypto import PREFIX, cipher, open_fields, seal_fields
from hospital_shared.time_limits import past_due_sql, past_warning_sql
from hospital_shared.vocabulary import FINISHED_CASE_STATUSES, LimitState

Row = dict[str, Any]

# Encrypted at rest: the patient's phone and every free text that may name or describe them.
CASE_SEALED = (
    "patient_phone", "description", "resolution", "summary", "validity_reason",
    "escalation_reason",
)  # fmt: skip
# The free text of an audit line (`case_audit.detail`): step notes, the validity and escalation
# reasons, radiology's note, the patient's satisfaction comment. Actions, ids and times stay
# readable; the re-seal job moves these through the trigger's narrow exception (migration 351).
AUDIT_SEALED = ("note", "comment")
# The free text of an enquiry's history line (`enquiry_history.detail`): a hand-over's reason.
# Sealed there and in the copy of that history a conversion writes into the case's audit.
HISTORY_SEALED = ("reason",)
# A case's accountability record (处罚直接责任者): what was done about whom, and why.
ACCOUNTABILITY_SEALED = ("detail",)


def opened_case(row: Mapping[str, Any]) -> Row:
    """A case row as read from the table, its sealed columns opened."""
    return open_fields(row, CASE_SEALED)


async def next_case_sequences(
    conn: asyncpg.Connection, counts: Mapping[date, int]
) -> dict[date, int]:
    """Take `counts[day]` numbers of each day in one statement; returns each day's last one
    (the numbers taken end there). The counters only grow, so a number is never reused. Days
    are locked in date order, so two batches never deadlock."""
    days = sorted(counts)
    rows = await conn.fetch(
        "INSERT INTO case_number_counters AS c (day, last_number)"
        " SELECT d.day, d.n FROM unnest($1::date[], $2::int[]) WITH ORDINALITY AS d(day, n, i)"
        " ORDER BY d.i"
        " ON CONFLICT (day) DO UPDATE SET last_number = c.last_number + EXCLUDED.last_number"
        " RETURNING day, last_number",
        days,
        [counts[d] for d in days],
    )
    return {r["day"]: int(r["last_number"]) for r in rows}


async def next_case_sequence(conn: asyncpg.Connection, day: date) -> int:
    """The next number of `day`."""
    return (await next_case_sequences(conn, {day: 1}))[day]


async def case_by_external_id(
    conn: asyncpg.Connection, channel: str, external_id: str
) -> Row | None:
    row = await conn.fetchrow(
        "SELECT * FROM cases WHERE channel = $1 AND external_id = $2", channel, external_id
    )
    return opened_case(row) if row else None


async def case_numbers_by_external_id(
    conn: asyncpg.Connection, keys: Collection[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """(channel, external id) -> case number, for those of `keys` that already have a case."""
    if not keys:
        return {}
    channels, external_ids = zip(*keys, strict=True)
    rows = await conn.fetch(
        "SELECT c.channel, c.external_id, c.case_number FROM cases c"
        " JOIN unnest($1::text[], $2::text[]) AS k(channel, external_id)"
        " ON c.channel = k.channel AND c.external_id = k.external_id",
        list(channels),
        list(external_ids),
    )
    return {(r["channel"], r["external_id"]): r["case_number"] for r in rows}


# The columns of a new case, with their types (every other column has its default).
OPENING_COLUMNS: dict[str, str] = {
    "case_number": "text", "channel": "text", "external_id": "text",
    "source_event_id": "text", "patient_id": "text", "patient_name": "text",
    "patient_phone": "text", "sms_opt_out": "boolean", "department_code": "text",
    "department_name": "text", "description": "text", "submitted_category": "text",
    "category": "text", "category_source": "text", "matched_rule_id": "bigint",
    "matched_keyword": "text", "serious_rule_id": "bigint", "serious_keyword": "text",
    "classification": "text", "serious": "boolean", "complex": "boolean", "priority": "text",
    "status": "text", "assignee_id": "text", "handling_department": "text",
    "supervisor_id": "text", "submitted_at": "timestamptz", "opened_at": "timestamptz",
    "opened_by": "text",
}  # fmt: skip


def _recordset(columns: dict[str, str]) -> str:
    """`FROM` rows of `columns` (name -> type) given as one JSON array of objects, in order
    (column `n`). One JSON text instead of an array per column: asyncpg checks every element
    of an array parameter against several abstract base classes, which cost more CPU than
    the rest of a batch's writing."""
    defs = ", ".join(f"{name} {type_}" for name, type_ in columns.items())
    return (
        f"ROWS FROM (json_to_recordset($1::json) AS ({defs}))"
        f" WITH ORDINALITY AS r({', '.join(columns)}, n)"
    )


def _json_rows(rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows as one JSON text, by pydantic's serializer (several times json.dumps' speed).
    Times keep their offset (UTC as `Z`): PostgreSQL reads back the same instant."""
    return to_json(list(rows)).decode()


_COLUMNS = ", ".join(OPENING_COLUMNS)
_INSERT_CASES_ONCE = (
    f"INSERT INTO cases ({_COLUMNS}) SELECT {_COLUMNS} FROM {_recordset(OPENING_COLUMNS)}"
    " ORDER BY n ON CONFLICT (channel, external_id) DO NOTHING"
)
_INSERT_CASES = f"{_INSERT_CASES_ONCE} RETURNING *"


async def insert_cases(conn: asyncpg.Connection, cases: Sequence[Row]) -> list[Row]:
    """Insert new cases (rows of `OPENING_COLUMNS`) in one statement, ids in the given order;
    returns those inserted, in that order: a case whose (channel, external_id) got there
    first is left out."""
    if not cases:
        return []
    rows = await conn.fetch(_INSERT_CASES, _sealed_rows(cases))
    return sorted((opened_case(r) for r in rows), key=lambda r: int(r["id"]))


def _sealed_rows(cases: Sequence[Row]) -> str:
    return _json_rows(seal_fields(case, CASE_SEALED) for case in cases)


# A batch's new cases reach PostgreSQL by binary COPY into a temporary table of the
# connection (emptied at each commit), then go into `cases` by one INSERT ... SELECT with the
# same ORDER BY and ON CONFLICT as `insert_cases`'s statement. PostgreSQL then parses no
# JSON: json_to_recordset was 14 of the ~37 us of PostgreSQL's CPU a case inserted, and
# pydantic's JSON of the rows costs more than asyncpg's binary encoding of the same values
# (1,000 cases x 10 in one transaction each, backend CPU from /proc: 37-41 -> 27-29 us a
# case in PostgreSQL, 21-22 -> 19-20 us in Python, sealing included).
_STAGED_CASES = "new_cases_staged"
_STAGE_NEW_CASES = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGED_CASES}"
    f" ({', '.join(f'{name} {type_}' for name, type_ in OPENING_COLUMNS.items())}, n int)"
    " ON COMMIT DELETE ROWS"
)
_INSERT_STAGED_CASES = (
    f"INSERT INTO cases ({_COLUMNS}) SELECT {_COLUMNS} FROM {_STAGED_CASES}"
    " ORDER BY n ON CONFLICT (channel, external_id) DO NOTHING RETURNING id, case_number, cycle"
)


async def _insert_staged(conn: asyncpg.Connection, cases: Sequence[Row]) -> list[asyncpg.Record]:
    """`cases` sealed and inserted through the connection's staging table (id, case number
    and cycle of those inserted). Only in a transaction: outside one, the COPY's rows would be
    gone at its own commit and nothing inserted."""
    if not conn.is_in_transaction():
        raise RuntimeError("new cases are staged and inserted in one transaction")
    await conn.execute(_STAGE_NEW_CASES)  # once a connection; then a lookup and a notice
    columns = list(OPENING_COLUMNS)
    await conn.copy_records_to_table(
        _STAGED_CASES,
        records=[
            (*(sealed[c] for c in columns), n)
            for n, sealed in enumerate(seal_fields(case, CASE_SEALED) for case in cases)
        ],
        columns=[*columns, "n"],
    )
    return await conn.fetch(_INSERT_STAGED_CASES)  # type: ignore[no-any-return]


async def insert_new_cases(conn: asyncpg.Connection, cases: Sequence[Row]) -> list[Row]:
    """`insert_cases` without reading every column back (a batch of new cases): each case
    inserted is returned as written, with its id and cycle, and no resolution yet (what the
    opened event and audit line need; the other columns keep their defaults). In the
    caller's transaction, as `open_cases` runs it."""
    if not cases:
        return []
    rows = await _insert_staged(conn, cases)
    given = {case["case_number"]: case for case in cases}
    inserted = [
        {**given[r["case_number"]], "id": r["id"], "cycle": r["cycle"], "resolution_kind": None}
        for r in rows
    ]
    return sorted(inserted, key=lambda r: int(r["id"]))


async def case_by_number(
    conn: asyncpg.Connection, case_number: str, *, for_update: bool = False
) -> Row | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT * FROM cases WHERE case_number = $1{lock}", case_number)
    return opened_case(row) if row else None


async def cases_by_id(conn: asyncpg.Connection, case_ids: Iterable[int]) -> dict[int, Row]:
    rows = await conn.fetch("SELECT * FROM cases WHERE id = ANY($1::bigint[])", list(case_ids))
    return {r["id"]: opened_case(r) for r in rows}


async def update_case(conn: asyncpg.Connection, case_id: int, changes: Row) -> Row:
    """Save `changes` (none: a change recorded beside the case, e.g. accountability) and count
    one more version of the case (the version a step may be sent with, `cases.check_version`)."""
    sets = "".join(f"{col} = ${i}, " for i, col in enumerate(changes, start=2))
    row = await conn.fetchrow(
        f"UPDATE cases SET {sets}version = version + 1, updated_at = now()"
        " WHERE id = $1 RETURNING *",
        case_id,
        *seal_fields(changes, CASE_SEALED).values(),
    )
    assert row is not None
    return opened_case(row)


async def escalate_cases(
    conn: asyncpg.Connection, directors: Mapping[int, str], *, at: datetime, reason: str
) -> None:
    """`update_case` of many cases handed to a director (case id -> director), in one
    statement: the same columns, `escalated_at` and `escalation_reason` for all. Nothing is
    read back: its one caller, a batch's escalations at opening, has the cases as it wrote
    them (reading every column back and opening the sealed ones was a third of the cost of
    an escalation at opening)."""
    ids = list(directors)
    await conn.execute(
        "UPDATE cases c SET director_id = u.director_id, escalated_at = $3,"
        " escalation_reason = u.reason, version = c.version + 1, updated_at = now()"
        " FROM unnest($1::bigint[], $2::text[], $4::text[]) AS u(id, director_id, reason)"
        " WHERE c.id = u.id",
        ids,
        [directors[i] for i in ids],
        at,
        [cipher().seal(reason) for _ in ids],  # each seal its own nonce, as update_case's
    )


async def list_cases(
    conn: asyncpg.Connection,
    *,
    filters: Row,
    visible_to: Row | None,
    limit: int,
    before: tuple[datetime, int] | None = None,
    now: datetime | None = None,
) -> list[Row]:
    """Cases matching `filters` (column -> value; `overdue`, `open` and `time_limit` are
    special) that the caller may see (`visible_to`: staff_id / department, None for
    everything), newest first, those opened before `before` (opened_at, id): a keyset page.
    `time_limit` compares the running limits with `now`."""
    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    for column, value in filters.items():
        if value is None:
            continue
        if column == "overdue":
            clause = (
                "EXISTS (SELECT 1 FROM case_deadlines d WHERE d.case_id = cases.id"
                " AND d.breached_at IS NOT NULL AND (d.outcome IS NULL OR d.outcome = 'late'))"
            )
            where.append(clause if value else f"NOT {clause}")
        elif column == "open":
            where.append("finished_at IS NULL" if value else "finished_at IS NOT NULL")
        elif column == "time_limit":
            where.append(_running_past(TimeLimitState(value), arg(now or datetime.now(UTC))))
        else:
            where.append(f"{column} = {arg(value)}")
    if visible_to is not None:
        me = arg(visible_to.get("staff_id"))
        if visible_to.get("department"):
            dept = arg(visible_to["department"])
            where.append(
                f"(assignee_id = {me} OR supervisor_id = {me}"
                f" OR department_code = {dept} OR handling_department = {dept})"
            )
        else:
            where.append(f"assignee_id = {me}")
    if before is not None:
        where.append(f"(opened_at, id) < ({arg(before[0])}, {arg(before[1])})")
    sql = "SELECT * FROM cases"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY opened_at DESC, id DESC LIMIT {arg(limit)}"
    return [opened_case(r) for r in await conn.fetch(sql, *args)]


class TimeLimitState(StrEnum):
    """The case list's time-limit filter (vocabulary.ALERTED_LIMIT_STATES)."""

    WARNING = LimitState.WARNING.value  # past its warning point (80%), not yet due
    BREACHED = LimitState.BREACHED.value  # past its due time, still running


def _running_past(state: TimeLimitState, now: str) -> str:
    """A case with a limit of its current cycle still running past that point at `now`."""
    breached = past_due_sql("d.due_at", now)
    past = (
        breached
        if state is TimeLimitState.BREACHED
        else f"{past_warning_sql('d.warn_at', now)} AND NOT {breached}"
    )
    return (
        "EXISTS (SELECT 1 FROM case_deadlines d WHERE d.case_id = cases.id"
        f" AND d.cycle = cases.cycle AND d.settled_at IS NULL AND {past})"
    )


# --- deadlines ----------------------------------------------------------------------------


async def insert_deadlines(
    conn: asyncpg.Connection, case_id: int, cycle: int, deadlines: Sequence[Deadline]
) -> None:
    await insert_deadlines_many(conn, [(case_id, cycle, d) for d in deadlines])


DEADLINE_COLUMNS = {
    "case_id": "bigint", "cycle": "int", "limit_name": "text",
    "starts_at": "timestamptz", "due_at": "timestamptz", "warn_at": "timestamptz",
    "working_days": "int", "calendar_counted": "jsonb",
}  # fmt: skip
_WRITE_DEADLINES = (
    f"INSERT INTO case_deadlines ({', '.join(DEADLINE_COLUMNS)})"
    f" SELECT {', '.join(DEADLINE_COLUMNS)} FROM {_recordset(DEADLINE_COLUMNS)} ORDER BY n"
)
_INSERT_DEADLINES = f"{_WRITE_DEADLINES} ON CONFLICT DO NOTHING RETURNING *"


def _counted_with(d: Deadline) -> dict[str, str | None] | None:
    """`case_deadlines.calendar_counted` of `d` (None: not counted in working days)."""
    return {str(y): stamp for y, stamp in d.counted_with} if d.counted_with else None


async def insert_deadlines_many(
    conn: asyncpg.Connection,
    deadlines: Sequence[tuple[int, int, Deadline]],
    *,
    read_back: bool = True,
) -> list[Row]:
    """(case id, cycle, deadline) rows in one statement; returns the rows inserted. Without
    `read_back` (the deadlines of new cases, which none can have yet), the rows are returned
    as written, with no settlement, instead of being read back."""
    if not deadlines:
        return []
    written: list[Row] = [
        {
            "case_id": case_id,
            "cycle": cycle,
            "limit_name": d.name.value,
            "starts_at": d.starts_at,
            "due_at": d.due_at,
            "warn_at": d.warn_at,
            "working_days": d.working_days,
            "calendar_counted": _counted_with(d),
        }
        for case_id, cycle, d in deadlines
    ]
    if not read_back:
        await conn.execute(_WRITE_DEADLINES, _json_rows(written))
        for row in written:  # as PostgreSQL would give them back
            row["starts_at"] = row["starts_at"].astimezone(UTC)
            row["due_at"] = row["due_at"].astimezone(UTC)
            row["warn_at"] = row["warn_at"].astimezone(UTC)
            row["settled_at"] = row["outcome"] = None
        rows = written
    else:
        rows = [dict(r) for r in await conn.fetch(_INSERT_DEADLINES, _json_rows(written))]
    await flag_missing_calendar(conn, deadlines)
    return rows


async def flag_missing_calendar(
    conn: asyncpg.Connection, deadlines: Sequence[tuple[int, int, Deadline]]
) -> None:
    """After writing `deadlines`: their cases' flag (`cases.calendar_missing_years`) is what
    their running deadlines were counted Monday to Friday for, said loudly (log, metric,
    alert). A reopened case's flag from its earlier cycle goes with that cycle's deadlines."""
    missing = {y for _, _, d in deadlines for y in d.missing_years}
    again = {case_id for case_id, cycle, d in deadlines if d.missing_years or cycle > 1}
    await refresh_calendar_flags(conn, sorted(again))
    if missing:
        report_missing("complaints", missing, what="complaint time limits")


async def refresh_calendar_flags(conn: asyncpg.Connection, cases: Sequence[int]) -> None:
    """Set each of `cases`' flag to the years its running deadlines were counted Monday to
    Friday for (their `calendar_counted`), writing only the cases it changes."""
    if not cases:
        return
    await conn.execute(
        "UPDATE cases c SET calendar_missing_years = m.years FROM ("
        " SELECT x.id, ARRAY(SELECT DISTINCT e.key::int"
        "  FROM case_deadlines d, jsonb_each(d.calendar_counted) e"
        "  WHERE d.case_id = x.id AND d.settled_at IS NULL AND e.value = 'null'::jsonb"
        "  ORDER BY 1) AS years"
        " FROM unnest($1::bigint[]) AS x(id)) m"
        " WHERE c.id = m.id AND c.calendar_missing_years IS DISTINCT FROM m.years",
        list(cases),
    )


# The open cases flagged for a year without schedule, as migration 430's partial index
# `cases_calendar_missing_open` has them: the calendar screen reads only those.
_FLAGGED_OPEN = (
    "calendar_missing_years <> '{}' AND status NOT IN ("
    + ", ".join(f"'{s}'" for s in sorted(FINISHED_CASE_STATUSES))
    + ")"
)


async def calendar_years_open_cases_lack(
    conn: asyncpg.Connection, *, known: Collection[int]
) -> list[int]:
    """The years that open cases' working-day limits were counted Monday to Friday for and
    that still have no schedule (a year added recounts them and lifts the flag)."""
    rows = await conn.fetch(
        f"SELECT DISTINCT y FROM cases, unnest(calendar_missing_years) AS y"
        f" WHERE {_FLAGGED_OPEN} AND y <> ALL($1::int[]) ORDER BY y",
        sorted(known),
    )
    return [r["y"] for r in rows]


# The cases whose running deadlines of $1 (limits) a save of a year recounts: counted over
# [$2, $3) (due from its first day, started before the next year's); read through migration
# 440's case_deadlines_running_due.
CASES_COUNTED_OVER = (
    "SELECT DISTINCT case_id FROM case_deadlines WHERE settled_at IS NULL"
    " AND limit_name = ANY($1::text[]) AND due_at >= $2 AND starts_at < $3"
)
# The cases whose running deadlines of $1 were counted with another schedule of a year than
# $2 (year -> stamp; a year absent: none, Monday to Friday); read through migration 440's
# case_deadlines_running_counted, the open work only.
CASES_COUNTED_OTHERWISE = (
    "SELECT DISTINCT case_id FROM case_deadlines d"
    " WHERE d.settled_at IS NULL AND d.calendar_counted IS NOT NULL"
    " AND d.limit_name = ANY($1::text[]) AND EXISTS (SELECT 1 FROM jsonb_each(d.calendar_counted)"
    " e WHERE e.value <> COALESCE($2::jsonb -> e.key, 'null'::jsonb))"
)


# The running deadlines of $2 (limits) of the cases $1, by the primary key.
RUNNING_OF_CASES = (
    "SELECT d.case_id, d.cycle, d.limit_name, d.starts_at, d.due_at, d.warn_at,"
    " d.working_days, d.calendar_counted, c.status"
    " FROM case_deadlines d JOIN cases c ON c.id = d.case_id"
    " WHERE d.case_id = ANY($1::bigint[]) AND d.settled_at IS NULL"
    " AND d.limit_name = ANY($2::text[])"
    " ORDER BY d.case_id, d.cycle, d.limit_name FOR UPDATE OF d"
)


async def cases_counted_over(
    conn: asyncpg.Connection, limits: Sequence[str], *, first: datetime, after: datetime
) -> list[int]:
    rows = await conn.fetch(CASES_COUNTED_OVER, list(limits), first, after)
    return [r["case_id"] for r in rows]


async def cases_counted_otherwise(
    conn: asyncpg.Connection, limits: Sequence[str], stamps: Mapping[int, str]
) -> list[int]:
    rows = await conn.fetch(
        CASES_COUNTED_OTHERWISE, list(limits), json.dumps({str(y): s for y, s in stamps.items()})
    )
    return [r["case_id"] for r in rows]


async def lock_running_deadlines(
    conn: asyncpg.Connection, cases: Sequence[int], limits: Sequence[str]
) -> list[Row]:
    """The running deadlines of `limits` in those of `cases` still open, with their case's
    status and locked for their rewrite: the cases first in id order, then the deadlines in
    key order (as a transition locks them; two recounts never deadlock, the timer skips
    them meanwhile). Both through primary keys."""
    open_ = await conn.fetch(
        "SELECT id FROM cases WHERE id = ANY($1::bigint[]) AND status <> ALL($2::text[])"
        " ORDER BY id FOR UPDATE",
        sorted(cases),
        sorted(FINISHED_CASE_STATUSES),
    )
    rows = await conn.fetch(RUNNING_OF_CASES, [r["id"] for r in open_], list(limits))
    return [
        {**r, "calendar_counted": _json_or_none(r["calendar_counted"])} for r in map(dict, rows)
    ]


def _json_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)


_RECOUNT_COLUMNS = {
    "case_id": "bigint", "cycle": "int", "limit_name": "text",
    "due_at": "timestamptz", "warn_at": "timestamptz",
    "working_days": "int", "calendar_counted": "jsonb",
}  # fmt: skip


async def move_deadlines(
    conn: asyncpg.Connection, moved: Sequence[tuple[int, int, Deadline]]
) -> None:
    """Give (case id, cycle, deadline) rows their recounted due and warning times, and the
    amount and calendar they are now counted with."""
    if not moved:
        return
    await conn.execute(
        f"UPDATE case_deadlines d SET due_at = r.due_at, warn_at = r.warn_at,"
        f" working_days = r.working_days, calendar_counted = r.calendar_counted"
        f" FROM {_recordset(_RECOUNT_COLUMNS)}"
        " WHERE d.case_id = r.case_id AND d.cycle = r.cycle AND d.limit_name = r.limit_name",
        _json_rows(
            {"case_id": case_id, "cycle": cycle, "limit_name": d.name.value,
             "due_at": d.due_at, "warn_at": d.warn_at, "working_days": d.working_days,
             "calendar_counted": _counted_with(d)}
            for case_id, cycle, d in moved
        ),
    )  # fmt: skip


async def settle_deadlines(
    conn: asyncpg.Connection,
    case_id: int,
    *,
    at: datetime,
    limits: Sequence[str] | None = None,
    outcome: str | None = None,
) -> None:
    """Stop the clocks of `limits` (all when None): met or late by the due time, unless an
    outcome (withdrawn, superseded) is given."""
    await conn.execute(
        "UPDATE case_deadlines SET settled_at = $2,"
        f" outcome = COALESCE($4, CASE WHEN {past_due_sql('due_at', '$2')}"
        " THEN 'late' ELSE 'met' END)"
        " WHERE case_id = $1 AND settled_at IS NULL"
        " AND ($3::text[] IS NULL OR limit_name = ANY($3::text[]))",
        case_id,
        at,
        list(limits) if limits is not None else None,
        outcome,
    )


async def deadlines_of(
    conn: asyncpg.Connection, case_id: int, cycle: int | None = None
) -> list[Row]:
    rows = await conn.fetch(
        "SELECT * FROM case_deadlines WHERE case_id = $1 AND ($2::int IS NULL OR cycle = $2)"
        " ORDER BY cycle, due_at",
        case_id,
        cycle,
    )
    return [dict(r) for r in rows]


async def deadlines_of_cases(
    conn: asyncpg.Connection, case_ids: Sequence[int]
) -> dict[int, list[Row]]:
    """`deadlines_of` for many cases in one statement (a list's cases: one round trip instead
    of one per case), keyed by case id."""
    rows = await conn.fetch(
        "SELECT * FROM case_deadlines WHERE case_id = ANY($1::bigint[]) ORDER BY cycle, due_at",
        list(case_ids),
    )
    found: dict[int, list[Row]] = {case_id: [] for case_id in case_ids}
    for r in rows:
        found[r["case_id"]].append(dict(r))
    return found


# --- audit --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One step in a case's written record."""

    case_id: int
    at: datetime
    actor_id: str
    actor_role: str
    action: str
    from_status: str | None
    to_status: str | None
    detail: Row | None = None


async def append_audit(
    conn: asyncpg.Connection,
    case_id: int,
    *,
    at: datetime,
    actor_id: str,
    actor_role: str,
    action: str,
    from_status: str | None,
    to_status: str | None,
    detail: Row | None = None,
) -> None:
    entry = AuditEntry(case_id, at, actor_id, actor_role, action, from_status, to_status, detail)
    await append_audits(conn, [entry])


AUDIT_COLUMNS = {
    "case_id": "bigint", "at": "timestamptz", "actor_id": "text", "actor_role": "text",
    "action": "text", "from_status": "text", "to_status": "text", "detail": "jsonb",
}  # fmt: skip
_APPEND_AUDITS = (
    f"INSERT INTO case_audit ({', '.join(AUDIT_COLUMNS)})"
    f" SELECT {', '.join(AUDIT_COLUMNS)} FROM {_recordset(AUDIT_COLUMNS)} ORDER BY n"
)


async def append_audits(conn: asyncpg.Connection, entries: Sequence[AuditEntry]) -> None:
    """Append `entries` in one statement, in order."""
    if not entries:
        return
    rows = [
        {
            "case_id": e.case_id,
            "at": e.at,
            "actor_id": e.actor_id,
            "actor_role": e.actor_role,
            "action": e.action,
            "from_status": e.from_status,
            "to_status": e.to_status,
            "detail": _sealed_detail(e.detail or {}),
        }
        for e in entries
    ]
    # Times in ISO 8601 (in `detail` too); anything else JSON does not know, as its str().
    await conn.execute(_APPEND_AUDITS, to_json(rows, fallback=str).decode())


async def audit_of(conn: asyncpg.Connection, case_id: int) -> list[Row]:
    rows = await conn.fetch(
        "SELECT at, actor_id, actor_role, action, from_status, to_status, detail"
        " FROM case_audit WHERE case_id = $1 ORDER BY id",
        case_id,
    )
    return [{**dict(r), "detail": _opened_detail(json.loads(r["detail"]))} for r in rows]


def _sealed_detail(detail: Row) -> Row:
    """An audit line's detail as stored: its free text sealed, and that of the enquiry history
    a conversion copies into it (`history`: the enquiry's lines, their own `detail`)."""
    return _each_history_detail(seal_fields(detail, AUDIT_SEALED), seal_fields)


def _opened_detail(detail: Row) -> Row:
    return _each_history_detail(open_fields(detail, AUDIT_SEALED), open_fields)


def _each_history_detail(detail: Row, change: Any) -> Row:
    history = detail.get("history")
    if isinstance(history, list):
        detail["history"] = [
            {**h, "detail": change(h["detail"], HISTORY_SEALED)}
            if isinstance(h, dict) and isinstance(h.get("detail"), dict)
            else h
            for h in history
        ]
    return detail


def _json_text_stale(keys: Sequence[str]) -> str:
    """A row whose `detail` has a free text not under the current key ($1: `enc1:<id>:`)."""
    return " OR ".join(
        f"(jsonb_typeof(detail -> '{k}') = 'string' AND NOT starts_with(detail ->> '{k}', $1))"
        for k in keys
    )


async def reseal_audit_batch(conn: asyncpg.Connection, batch_size: int) -> int:
    """Move up to `batch_size` audit lines' free text to the current key (sealing clear text
    from before, re-wrapping an earlier key's): the only UPDATE the append-only audit allows,
    inside a transaction that says so (complaints.resealing), and only of those values
    (migration 351). Returns how many lines moved. (A conversion's copy of the enquiry's
    history, `detail.history`, is not among them: lines written before it was sealed keep
    their hand-over reasons in clear.)"""
    return await reseal_detail_batch(
        conn, batch_size, table="case_audit", keys=AUDIT_SEALED, setting="complaints.resealing"
    )


async def reseal_detail_batch(
    conn: asyncpg.Connection,
    batch_size: int,
    *,
    table: str,
    keys: Sequence[str],
    setting: str | None = None,
) -> int:
    """Move up to `batch_size` rows of `table` whose `detail` (jsonb) holds a free text under
    `keys` not under the current key, in one transaction (that sets `setting` when given);
    returns how many moved. Table and keys come from code, never from input."""
    c = cipher()
    async with conn.transaction():
        if setting is not None:
            await conn.execute(f"SET LOCAL {setting} = 'on'")
        rows = await conn.fetch(
            f"SELECT id, detail FROM {table} WHERE {_json_text_stale(keys)}"
            " LIMIT $2 FOR UPDATE SKIP LOCKED",
            f"{PREFIX}{c.current_id}:",
            batch_size,
        )
        if not rows:
            return 0
        details = [json.loads(r["detail"]) for r in rows]
        moved = [{k: c.rewrap(v) if k in keys else v for k, v in d.items()} for d in details]
        await conn.execute(
            f"UPDATE {table} a SET detail = u.detail"
            " FROM unnest($1::bigint[], $2::jsonb[]) AS u(id, detail) WHERE a.id = u.id",
            [r["id"] for r in rows],
            [json.dumps(d) for d in moved],
        )
    return len(rows)
