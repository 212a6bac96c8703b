"""Access records: who read which patient's personal data, when, from where and why (PIPL).

Every route that answers with a patient's personal data (a case with its text, a patient's
messages, a task with name and phone, a search by phone or name) calls `record` on the
connection it read with, once per request, with what it is about to return; a route that
refuses a patient's record (403, or a 404 that hides it) calls it with `outcome="denied"`; a
role the route does not admit at all is recorded the same way by the role check itself
(`record_refused_role`, from auth.py).
One row is written per patient (its record ids together), so a read shows up exactly once.

What a row holds: the reader (staff id, role, department), the patient and the records
(kind, ids), the time, the service, route and client address, whether the record was in the
reader's scope (assigned to them or in their department: the unusual-access rule counts the
others), and the reason the screen gives: the `X-Access-Reason` request header (at most 200
characters; percent-encoded UTF-8 for text beyond Latin-1, e.g. `%E5%A4%84%E7%90%86`).

The request is bound by the router dependency `bind_request` (`APIRouter(dependencies=
[BIND_REQUEST])`), so code below the route (complaints' `render`) records without the
request threaded through it. The table is append-only (migration 050); only `purge_expired`
deletes, past the retention, and records that it did.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import unquote

import asyncpg
from fastapi import APIRouter, Depends, Request

from hospital_shared.bounds import storable_text
from hospital_shared.http_guard import GuardedRoute

REASON_HEADER = "X-Access-Reason"
REASON_MAX_CHARS = 200
PURGE_FLAG = "hospital.access_records_purge"

Outcome = Literal["granted", "denied"]

_request: contextvars.ContextVar[Request | None] = contextvars.ContextVar(
    "access_records_request", default=None
)


class RequestNotBound(RuntimeError):
    """A route recorded a read without `bind_request` among its router's dependencies."""


async def bind_request(request: Request) -> None:
    """Router dependency: remember the request for `record` (same task as the route)."""
    _request.set(request)


BIND_REQUEST = Depends(bind_request)


def audited_router(prefix: str, tag: str) -> APIRouter:
    """A router whose routes answer with patients' data: guarded like every route, with the
    request bound so that `record` knows the client address and the reason given."""
    return APIRouter(
        prefix=prefix, tags=[tag], route_class=GuardedRoute, dependencies=[BIND_REQUEST]
    )


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads: a staff member, operations or a hospital system."""

    staff_id: str | None
    role: str
    department: str | None = None

    @classmethod
    def of(cls, principal: Any) -> Reader:
        role = getattr(principal.role, "value", principal.role)
        return cls(principal.staff_id, str(role), principal.department)


@dataclass(frozen=True, slots=True)
class Read:
    """One record of a patient's about to be answered (or refused). `assignee_id` and
    `department` say whose worklist and department it is in, for the scope flag."""

    patient_id: str | None
    kind: str
    record_id: str
    department: str | None = None
    assignee_id: str | None = None

    def in_scope_of(self, reader: Reader) -> bool:
        if reader.staff_id is not None and self.assignee_id == reader.staff_id:
            return True
        return reader.department is not None and self.department == reader.department


def reason_of(request: Request) -> str | None:
    """The `X-Access-Reason` header, percent-decoded, without control characters, bounded."""
    raw = request.headers.get(REASON_HEADER)
    if not raw:
        return None
    text = unquote(raw, errors="replace")
    text = "".join(ch for ch in text if ch.isprintable()).strip()
    return text[:REASON_MAX_CHARS] or None


@dataclass(frozen=True, slots=True)
class _Row:
    patient_id: str | None
    kind: str
    record_ids: list[str]
    in_scope: bool


def group_reads(reads: Iterable[Read], reader: Reader) -> list[_Row]:
    """One row per (patient, kind), its record ids in order and without repeats; in scope only
    when every one of them is."""
    rows: dict[tuple[str | None, str], _Row] = {}
    for read in reads:
        key = (read.patient_id, read.kind)
        row = rows.get(key)
        if row is None:
            rows[key] = _Row(read.patient_id, read.kind, [read.record_id], read.in_scope_of(reader))
            continue
        if read.record_id not in row.record_ids:
            row.record_ids.append(read.record_id)
        if not read.in_scope_of(reader):
            rows[key] = _Row(row.patient_id, row.kind, row.record_ids, False)
    return list(rows.values())


_INSERT = """
INSERT INTO access_records (service, staff_id, role, department, patient_id, record_kind,
                            record_ids, outcome, in_scope, route, client_addr, reason)
SELECT $1, $2, $3, $4, r.patient_id, r.kind, string_to_array(r.ids, chr(31)), $5, r.in_scope,
       $6, $7, $8
FROM unnest($9::text[], $10::text[], $11::text[], $12::bool[]) AS r(patient_id, kind, ids, in_scope)
"""


async def record(
    conn: asyncpg.Connection,
    reader: Reader,
    reads: Iterable[Read],
    *,
    outcome: Outcome = "granted",
) -> int:
    """Write the access rows for this request's reads, on `conn` (one statement); returns how
    many. Nothing read (an empty list) writes nothing."""
    request = _request.get()
    if request is None:
        raise RequestNotBound("bind_request is not among this router's dependencies")
    rows = group_reads(reads, reader)
    if not rows:
        return 0
    route = request.scope.get("route")
    await conn.execute(
        _INSERT,
        request.app.state.runtime.name,
        reader.staff_id,
        reader.role,
        reader.department,
        outcome,
        getattr(route, "path", request.url.path),
        request.client.host if request.client else None,
        reason_of(request),
        [r.patient_id for r in rows],
        [r.kind for r in rows],
        ["\x1f".join(r.record_ids) for r in rows],
        [r.in_scope for r in rows],
    )
    return len(rows)


async def record_refused_role(principal: Any) -> None:
    """A request to an audited route that the role check refused (403 before the route ran):
    a denied row for the records its path names (their ids; the patient is not looked up, as
    nothing was read), so that a look the role may not take is on record too. Nothing on a
    route that is not audited (no request bound)."""
    request = _request.get()
    if request is None:
        return
    route = request.scope.get("route")
    kind = next(iter(getattr(route, "tags", None) or ()), "route")
    # the path's ids as given, but only those PostgreSQL can store (a NUL in the path would
    # fail the insert before the route's guard refuses it with a 422)
    ids = [str(v) for v in request.path_params.values()]
    reads = [Read(None, str(kind), v if storable_text(v) else "?") for v in ids]
    async with request.app.state.runtime.pool.acquire() as conn:
        await record(conn, Reader.of(principal), reads or [Read(None, str(kind), "*")],
                     outcome="denied")  # fmt: skip


async def list_records(
    conn: asyncpg.Connection,
    *,
    patient_id: str | None,
    staff_id: str | None,
    since: datetime | None,
    limit: int,
    before: tuple[datetime, int] | None = None,
    department: str | None = None,
) -> Sequence[asyncpg.Record]:
    """Newest first, up to `limit`, starting after `before` (the last listed row's (at, id)):
    a keyset, so a page does not shift while new reads are being recorded; `department`: only
    the reads of that department's staff. A patient's reads are those of every id a merge
    (ADT^A40) made one person with it: the records keep the id the reader saw (they are never
    moved), before the merge the merged one's."""
    before_at, before_id = before if before is not None else (None, None)
    return await conn.fetch(
        """WITH person AS (
               SELECT coalesce((SELECT surviving_id FROM patient_aliases WHERE merged_id = $1),
                               $1) AS id),
           ids AS (
               SELECT id FROM person
               UNION SELECT merged_id FROM patient_aliases, person WHERE surviving_id = person.id)
           SELECT id, at, service, staff_id, role, department, patient_id, record_kind,
                  record_ids, outcome, in_scope, route, client_addr, reason
           FROM access_records
           WHERE ($1::text IS NULL OR patient_id IN (SELECT id FROM ids))
             AND ($2::text IS NULL OR staff_id = $2)
             AND ($7::text IS NULL OR department = $7)
             AND ($3::timestamptz IS NULL OR at >= $3)
             AND ($5::timestamptz IS NULL OR (at, id) < ($5, $6::bigint))
           ORDER BY at DESC, id DESC LIMIT $4""",
        patient_id,
        staff_id,
        since,
        limit,
        before_at,
        before_id,
        department,
    )


async def out_of_scope_since(conn: asyncpg.Connection, since: datetime) -> Sequence[Any]:
    """Reads outside the reader's scope since `since`: what the unusual-access rule counts. A
    look through the access log itself (kind `access_records`) is not one: it names every
    patient the log shows, and would make each audit an unusual reader."""
    return await conn.fetch(
        """SELECT staff_id, patient_id, at FROM access_records
           WHERE at >= $1 AND NOT in_scope AND staff_id IS NOT NULL AND patient_id IS NOT NULL
             AND record_kind <> 'access_records'""",
        since,
    )


async def purge_expired(
    conn: asyncpg.Connection, *, service: str, retention: timedelta, now: datetime
) -> int:
    """Delete what is past the retention (the one path the append-only trigger lets through,
    in this transaction only), and record the purge itself as an access record."""
    cutoff = now - retention
    async with conn.transaction():
        await conn.execute("SELECT set_config($1, 'on', true)", PURGE_FLAG)
        status = await conn.execute("DELETE FROM access_records WHERE at < $1", cutoff)
        await conn.execute("SELECT set_config($1, 'off', true)", PURGE_FLAG)
        purged = int(status.split()[-1])
        if purged:
            await conn.execute(
                """INSERT INTO access_records (service, staff_id, role, record_kind, record_ids,
                       outcome, in_scope, route, reason)
                   VALUES ($1, NULL, 'system', 'access_records', ARRAY[$2::text], 'purged',
                           true, 'retention-purge', $3)""",
                service,
                str(purged),
                f"retention {retention.days} days: before {cutoff.isoformat()}",
            )
    return purged
