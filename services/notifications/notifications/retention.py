"""Retention: what the service stores about patients and staff is destroyed once it is past
`NOTIFICATIONS_RETENTION_DAYS` (DOMAIN.md: keep personal information only as long as the
retention rules say). One pass, run by a periodic job (`hospital_shared.jobs.every`):

- messages (their text, number and address) that finished longer ago than that: delivered,
  failed, expired, withdrawn, suppressed or digested. Messages still pending, sending or
  awaiting a receipt are never deleted (a receipt is given up after `receipt_timeout_h`, and
  the message then finishes as expired). A kept message that points at a deleted one (a
  resend, a digest's items) loses the pointer, not itself;
- patients not reported for that long and with no message left. A patient reported deceased
  keeps the flag, which stops any message to the family, but loses the phone number;
- inbound SMS (number and text) and withdrawn subjects;
- survey links (patient id, contact, token hash) whose link expired that long ago: answered
  or not, nothing opens them any more, and the answer itself went out as `survey.answered`.

Opt-outs are kept whatever their age, revoked ones too (the schema's rule: revoked, never
deleted): they are the record of the patient's instruction. The audit log is kept: it records
what staff did, by id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import structlog

log = structlog.get_logger(__name__)

# Messages whose life is not over; everything else finishes (`finished_at`).
ACTIVE = ("pending", "sending", "submitted")


@dataclass(frozen=True, slots=True)
class Purged:
    messages: int = 0
    patients: int = 0
    phones_cleared: int = 0
    inbound_sms: int = 0
    withdrawn_subjects: int = 0
    survey_links: int = 0

    @property
    def total(self) -> int:
        return (
            self.messages + self.patients + self.phones_cleared + self.inbound_sms
            + self.withdrawn_subjects + self.survey_links
        )  # fmt: skip


async def purge_expired(
    pool: asyncpg.Pool, *, retention_days: int, batch_size: int, now: datetime
) -> Purged:
    """One retention pass; messages in transactions of `batch_size`, so that a large backlog
    of expired rows never holds long locks."""
    cutoff = now - timedelta(days=retention_days)
    messages = 0
    async with pool.acquire() as conn:
        while True:
            n = await _purge_messages(conn, cutoff, batch_size)
            messages += n
            if n < batch_size:
                break
        async with conn.transaction():
            patients = _count(
                await conn.execute(
                    """DELETE FROM patients p WHERE p.updated_at < $1 AND NOT p.deceased
                         AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.patient_id = p.patient_id)""",
                    cutoff,
                )
            )
            phones = _count(
                await conn.execute(
                    """UPDATE patients p SET phone = NULL, phone_hash = NULL WHERE p.updated_at < $1 AND p.deceased
                         AND p.phone IS NOT NULL
                         AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.patient_id = p.patient_id)""",
                    cutoff,
                )
            )
            inbound = _count(
                await conn.execute("DELETE FROM inbound_sms WHERE received_at < $1", cutoff)
            )
            withdrawn = _count(
                await conn.execute("DELETE FROM withdrawn_subjects WHERE created_at < $1", cutoff)
            )
            links = _count(
                await conn.execute("DELETE FROM survey_links WHERE expires_at < $1", cutoff)
            )
    purged = Purged(messages, patients, phones, inbound, withdrawn, links)
    if purged.total:
        log.info(
            "notification records past retention destroyed",
            messages=messages, patients=patients, phones_cleared=phones, inbound_sms=inbound,
            withdrawn_subjects=withdrawn, survey_links=links, retention_days=retention_days,
        )  # fmt: skip
    return purged


async def _purge_messages(conn: asyncpg.Connection, cutoff: datetime, batch_size: int) -> int:
    async with conn.transaction():
        ids = [
            r["id"]
            for r in await conn.fetch(
                """SELECT id FROM messages
                   WHERE status <> ALL($1::text[]) AND coalesce(finished_at, updated_at) < $2
                   LIMIT $3 FOR UPDATE SKIP LOCKED""",
                list(ACTIVE), cutoff, batch_size,
            )
        ]  # fmt: skip
        if not ids:
            return 0
        await conn.execute(
            "UPDATE messages SET resend_of = NULL WHERE resend_of = ANY($1::uuid[])", ids
        )
        await conn.execute(
            "UPDATE messages SET digest_id = NULL WHERE digest_id = ANY($1::uuid[])", ids
        )
        return _count(await conn.execute("DELETE FROM messages WHERE id = ANY($1::uuid[])", ids))


def _count(status: str) -> int:
    return int(status.split()[-1])
