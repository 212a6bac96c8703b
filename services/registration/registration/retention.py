"""What the gateway keeps, and for how long. Its tables are working state, not the hospital's
register (the HIS keeps that): a visit record only has to live as long as a cancellation,
no-show, discharge or update may still arrive for it, and an id only as long as a sender may
still retry it. Past that, patient data is destroyed (PIPL: keep it no longer than needed).

- Visits in a final state (cancelled, no-show, admission cancelled, discharged) and outpatient
  registrations, untouched for `visit_retention_days`, are deleted; a registration only once
  its appointment is that long past too (one booked months ahead must still take its
  cancellation or no-show: without its visit, that was held, given up, and the patient was
  reminded of a cancelled visit). Open admissions stay until discharged, however long the stay.
- A held cancellation or no-show whose visit never arrived is given up after
  `held_expiry_days`: logged (ids and type only) and counted in
  `hospital_registration_held_expired_total`, so an integrator can chase the missing visit.
- Received event ids and HL7 control ids older than `dedup_window_days` are forgotten: a
  retry after that is taken in again (and found already known if its visit is still kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import structlog
from prometheus_client import Counter

from registration.domain import Status

log = structlog.get_logger(__name__)

HELD_EXPIRED = Counter(
    "hospital_registration_held_expired_total",
    "Held cancellations and no-shows given up because their visit never arrived",
    ["type"],
)
PURGED = Counter("hospital_registration_purged_total", "Rows deleted past retention", ["table"])

# Visits that may be forgotten once untouched long enough (open admissions never are).
FORGETTABLE = [
    Status.REGISTERED,
    Status.CANCELLED,
    Status.NO_SHOW,
    Status.ADMISSION_CANCELLED,
    Status.DISCHARGED,
]


@dataclass(frozen=True)
class Retention:
    visit_days: int
    held_expiry_days: int
    dedup_window_days: int
    batch_size: int


async def purge(pool: asyncpg.Pool, rules: Retention, *, now: datetime) -> int:
    """One pass; the number of rows deleted (a full batch in any table means: run again)."""
    async with pool.acquire() as conn:
        deleted = await _expire_held(conn, rules, now)
        deleted += await _delete_batch(
            conn,
            "visits",
            "SELECT ctid FROM visits WHERE updated_at < $1 AND status = ANY($3::text[])"
            " AND (status <> 'registered'"
            " OR coalesce(appointment_at < $1, true))",
            now - timedelta(days=rules.visit_days),
            rules.batch_size,
            [s.value for s in FORGETTABLE],
        )
        cutoff = now - timedelta(days=rules.dedup_window_days)
        for table in ("received_events", "hl7_messages"):
            deleted += await _delete_batch(
                conn,
                table,
                f"SELECT ctid FROM {table} WHERE received_at < $1",
                cutoff,
                rules.batch_size,
            )
    return deleted


async def _expire_held(conn: asyncpg.Connection, rules: Retention, now: datetime) -> int:
    rows = await conn.fetch(
        "DELETE FROM held_intakes WHERE seq IN (SELECT seq FROM held_intakes"
        " WHERE received_at < $1 ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED)"
        " RETURNING kind, visit_id, event_id, type",
        now - timedelta(days=rules.held_expiry_days),
        rules.batch_size,
    )
    for row in rows:
        HELD_EXPIRED.labels(row["type"]).inc()
        log.warning(
            "held intake expired: its visit never arrived",
            kind=row["kind"],
            visit_id=row["visit_id"],
            event_id=row["event_id"],
            type=row["type"],
            held_expiry_days=rules.held_expiry_days,
        )
    if rows:
        PURGED.labels("held_intakes").inc(len(rows))
    return len(rows)


async def _delete_batch(
    conn: asyncpg.Connection,
    table: str,
    select_ctids: str,
    cutoff: datetime,
    batch: int,
    *args: object,
) -> int:
    status = await conn.execute(
        f"DELETE FROM {table} WHERE ctid = ANY(ARRAY({select_ctids} LIMIT $2))",
        cutoff,
        batch,
        *args,
    )
    n = int(status.split()[-1])
    if n:
        PURGED.labels(table).inc(n)
        log.info("rows past retention deleted", table=table, count=n)
    return n
