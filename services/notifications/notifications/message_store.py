"""SQL that creates and withdraws messages, in bulk: one statement for a batch's messages,
one for its withdrawals, one for the subjects it withdraws (asyncpg, `notifications` schema).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

import asyncpg

from hospital_shared.field_crypto import seal
from notifications.policy import Withdraw

# The columns a new message may set, with their types (for unnest); the others keep their
# defaults. Every row given to `insert_messages` has the same keys.
MESSAGE_COLUMNS = {
    "id": "uuid",
    "idempotency_key": "text",
    "source_event_id": "text",
    "source_event_type": "text",
    "template": "text",
    "audience": "text",
    "channel": "text",
    "patient_id": "text",
    "staff_id": "text",
    "subject_ref": "text",
    "urgent": "boolean",
    "body": "text",
    "encoding": "text",
    "segments": "int",
    "status": "text",
    "status_reason": "text",
    "due_at": "timestamptz",
    "send_after": "timestamptz",
    "deferred_reason": "text",
    "digest_slot": "timestamptz",
    "expires_at": "timestamptz",
    "delivered_at": "timestamptz",
    "finished_at": "timestamptz",
    "resend_of": "uuid",
}


# Ids are derived from the idempotency key: a message planned again by a replay after a
# restore (backup.py) gets the id it had, the one the gateway's records know it by
# (restore_check.py). A resend is a new message with a key of its own.
_MESSAGE_IDS = uuid.UUID("5d0c4a52-8f0e-4a57-9a53-2f1b0e7c6a11")


def message_id(idempotency_key: str) -> uuid.UUID:
    return uuid.uuid5(_MESSAGE_IDS, idempotency_key)


def message_id_text(idempotency_key: str) -> str:
    """`str(message_id(key))`, made without the `UUID` object (RFC 4122 name-based, SHA-1,
    as `uuid.uuid5`): 2.4 against 6 us, and asyncpg reads the text in C where it asks a
    `UUID` for its bytes in Python; a drain creates 1.35 messages an event."""
    digest = bytearray(hashlib.sha1(_MESSAGE_IDS.bytes + idempotency_key.encode()).digest()[:16])
    digest[6] = digest[6] & 0x0F | 0x50  # version 5
    digest[8] = digest[8] & 0x3F | 0x80  # the RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# The columns of a message the consumer plans (message_rows.py), in the order of the
# `planned_message` type (migration 352).
PLANNED = tuple(c for c in MESSAGE_COLUMNS if c != "resend_of")
_PLANNED_KEYS = frozenset(PLANNED)
_PLANNED_VALUES = itemgetter(*PLANNED[1:])
_BODY = PLANNED.index("body") - 1  # in _PLANNED_VALUES' tuple
_INSERT_PLANNED = (
    f"INSERT INTO messages ({', '.join(PLANNED)})"
    " SELECT * FROM unnest($1::planned_message[]) ON CONFLICT (idempotency_key) DO NOTHING"
)


async def insert_messages(conn: asyncpg.Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Create the messages whose idempotency key does not exist yet (the first of a key
    wins, in the rows' order); how many were created. A row without `id` gets the one its
    key gives (`message_id`). The body is sealed (repository.py opens it).

    Planned messages (the consumer's: every column of `PLANNED`) go as one array of
    `planned_message` rows; others (a resend, a digest) as one array per column. One array
    of rows took 7.4 against 9.7 us of the service's CPU a message (bench, 9,589 rows of a
    drain), as asyncpg checks each element of an array for nesting."""
    if not rows:
        return 0
    if rows[0].keys() | {"id"} == _PLANNED_KEYS:
        status = await conn.execute(_INSERT_PLANNED, [_planned(row) for row in rows])
    else:
        status = await _insert_by_column(conn, rows)
    return int(status.split()[-1])


def _planned(row: Mapping[str, Any]) -> tuple[Any, ...]:
    values = _PLANNED_VALUES(row)
    return (
        row.get("id") or message_id_text(row["idempotency_key"]),
        *values[:_BODY], seal(values[_BODY]), *values[_BODY + 1 :],
    )  # fmt: skip


async def _insert_by_column(conn: asyncpg.Connection, rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as one array per column they set (the others keep their defaults)."""
    columns = ["id", *(c for c in rows[0] if c != "id")]
    arrays: list[list[Any]] = [
        [row.get("id") or message_id_text(row["idempotency_key"]) for row in rows]
    ]
    arrays += [
        [seal(row[c]) for row in rows] if c == "body" else [row[c] for row in rows]
        for c in columns[1:]
    ]
    params = ", ".join(f"${i}::{MESSAGE_COLUMNS[c]}[]" for i, c in enumerate(columns, start=1))
    return str(
        await conn.execute(
            f"INSERT INTO messages ({', '.join(columns)}) SELECT * FROM unnest({params})"
            " ON CONFLICT (idempotency_key) DO NOTHING",
            *arrays,
        )
    )


async def insert_message(conn: asyncpg.Connection, **fields: Any) -> bool:
    """Create a message unless its idempotency key exists; True when created."""
    return await insert_messages(conn, [fields]) == 1


async def withdrawn_reasons(
    conn: asyncpg.Connection, subject_refs: Collection[str]
) -> dict[str, str]:
    """Why each of these subjects (registration, admission, case, task) was withdrawn, for
    those that were: a cancellation seen before its reminder still withdraws it."""
    if not subject_refs:
        return {}
    rows = await conn.fetch(
        "SELECT subject_ref, reason FROM withdrawn_subjects WHERE subject_ref = ANY($1::text[])",
        list(subject_refs),
    )
    return {r["subject_ref"]: r["reason"] for r in rows}


async def remember_withdrawn(
    conn: asyncpg.Connection, withdrawn: Iterable[tuple[str, str, str]]
) -> None:
    """Record (subject_ref, reason, event_id) triples; a subject keeps its first reason."""
    subjects, reasons, event_ids = (list(c) for c in zip(*withdrawn, strict=True))
    await conn.execute(
        "INSERT INTO withdrawn_subjects (subject_ref, reason, source_event_id)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING",
        subjects,
        reasons,
        event_ids,
    )


# The messages a withdrawal of a subject reaches, and those a patient-wide one (a death's)
# reaches: every patient message but those whose template is `send_to_deceased` (policy.py).
# `{}`: the first of the branch's three parameters (its withdrawals' key, reason, order).
_BY_SUBJECT = """
    SELECT m.id, w.reason, w.n
      FROM unnest(${}::text[], ${}::text[], ${}::int[]) AS w(subject_ref, reason, n)
      JOIN messages m ON m.subject_ref = w.subject_ref
     WHERE m.status = 'pending' AND m.channel <> 'inbox'"""
_BY_PATIENT = """
    SELECT m.id, w.reason, w.n
      FROM unnest(${}::text[], ${}::text[], ${}::int[]) AS w(patient_id, reason, n)
      JOIN messages m ON m.patient_id = w.patient_id
     WHERE m.status = 'pending' AND m.channel <> 'inbox' AND m.audience = 'patient'
       AND NOT EXISTS (SELECT 1 FROM templates t WHERE t.name = m.template AND t.send_to_deceased)"""


async def withdraw(conn: asyncpg.Connection, withdrawals: Sequence[Withdraw]) -> int:
    """Withdraw the messages not yet handed to the gateway: of a subject, or every patient
    message of a patient but those whose template is `send_to_deceased` (the patient-wide
    withdrawal is a death's). A message several withdrawals match takes the first one's
    reason; how many were withdrawn.

    The subject and the patient withdrawals go in arrays of their own, and a branch only
    when the batch has withdrawals of its kind (the patient one: a death): with one array
    of both (NULL where a withdrawal had no patient), the planner expected a patient per
    withdrawal and read the whole table for the patient branch (a hash join on a sequential
    scan), the dearest statement of a drain (~19 ms of PostgreSQL CPU a batch, growing with
    the table)."""
    numbered = list(enumerate(withdrawals, start=1))
    branches: list[str] = []
    args: list[list[Any]] = []
    for sql, rows in (
        (_BY_SUBJECT, [(w.subject_ref, w.reason, n) for n, w in numbered if w.subject_ref]),
        (_BY_PATIENT, [(w.patient_id, w.reason, n) for n, w in numbered if w.patient_id]),
    ):
        if rows:
            branches.append(sql.format(*range(len(args) + 1, len(args) + 4)))
            args += [list(column) for column in zip(*rows, strict=True)]
    if not branches:
        return 0
    status = await conn.execute(
        f"""WITH matched AS ({" UNION ALL ".join(branches)}),
           first AS (SELECT DISTINCT ON (id) id, reason FROM matched ORDER BY id, n)
         UPDATE messages m SET status = 'withdrawn', status_reason = first.reason,
             finished_at = now(), updated_at = now()
           FROM first WHERE m.id = first.id AND m.status = 'pending'""",
        *args,
    )
    return int(status.split()[-1])
