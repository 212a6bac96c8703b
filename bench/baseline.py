"""The raw limit: a minimal consumer with aiokafka `getmany` and asyncpg doing the equivalent
write of a service, one transaction per batch, offsets committed after it. No validation, no
business rules.

`raw_drain` writes an inbox row and an effect row per event (`executemany`): the equivalent of
follow-up's, notifications' and metrics' writes. `raw_complaints_drain` is complaints' own,
whose write set is far larger than two rows: the rows the service writes per complaint, into
its tables (the ratio `make bench` reports for complaints is to this one; its ratio to the
two-row consumer is reported too)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from bench.kafka_offsets import Offsets
from hospital_shared import db
from hospital_shared import topics as topic_names

COMPLAINTS_MIGRATIONS = Path(__file__).resolve().parent.parent / "services/complaints/migrations"

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS raw_baseline;
CREATE TABLE IF NOT EXISTS raw_baseline.inbox (
    handler text NOT NULL, event_id text NOT NULL, topic text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (handler, event_id));
CREATE TABLE IF NOT EXISTS raw_baseline.effects (
    event_id text PRIMARY KEY, type text NOT NULL, subject text, payload jsonb NOT NULL);
"""


# write(conn, records): a batch's rows, inside the batch's transaction.
WriteBatch = Callable[[asyncpg.Connection, list[ConsumerRecord[Any, Any]]], Awaitable[None]]


async def _drain(
    bootstrap: str, topics: tuple[str, ...], group: str, conn: asyncpg.Connection,
    write: WriteBatch,
) -> tuple[int, float]:  # fmt: skip
    """(events, seconds) to consume everything now on `topics` from their start, in a new
    group: `getmany`, `write` in one transaction per batch, offsets committed after it;
    timed from the group's assignment to the last commit."""
    async with Offsets(bootstrap) as off:
        target = await off.end_total(topics)
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=f"{group}-{time.time_ns()}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=2000,
        fetch_max_bytes=50 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    # Timed from its partitions' assignment, as a service's drain is timed from its /readyz
    # (consumers assigned): timed from start(), the group join counted against the raw
    # client only, a large part of a drain of a second or two (complaints).
    while not consumer.assignment():  # noqa: ASYNC110 (aiokafka has no assignment event)
        await asyncio.sleep(0.01)
    started = time.monotonic()
    done = 0
    try:
        while done < target:
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            records = [r for recs in batch.values() for r in recs]
            if not records:
                continue
            async with conn.transaction():
                await write(conn, records)
            await consumer.commit()
            done += len(records)
    finally:
        await consumer.stop()
    return done, time.monotonic() - started


async def raw_drain(
    bootstrap: str, database_url: str, topics: tuple[str, ...], name: str
) -> tuple[int, float]:
    """(events, seconds) to consume and write everything now on `topics`."""
    conn = await asyncpg.connect(database_url)
    await conn.execute(SCHEMA)
    await conn.execute("TRUNCATE raw_baseline.inbox, raw_baseline.effects")

    async def write(conn: asyncpg.Connection, records: list[ConsumerRecord[Any, Any]]) -> None:
        inbox, effects = [], []
        for r in records:
            doc = json.loads(r.value)
            inbox.append((name, doc["id"], r.topic))
            effects.append((doc["id"], doc["type"], doc.get("subject"), r.value.decode()))
        await conn.executemany(
            "INSERT INTO raw_baseline.inbox (handler, event_id, topic) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING",
            inbox,
        )
        await conn.executemany(
            "INSERT INTO raw_baseline.effects VALUES ($1, $2, $3, $4::jsonb)"
            " ON CONFLICT DO NOTHING",
            effects,
        )

    try:
        return await _drain(bootstrap, topics, f"raw-baseline-{name}", conn, write)
    finally:
        await conn.close()


# The columns a complaint's case is opened with (the service writes these, with its values).
_CASE_COLUMNS = (
    "id", "case_number", "channel", "external_id", "source_event_id", "patient_id",
    "patient_name", "patient_phone", "sms_opt_out", "department_code", "department_name",
    "description", "submitted_category", "category", "category_source", "classification",
    "serious", "complex", "priority", "status", "submitted_at", "opened_at", "opened_by",
)  # fmt: skip
_CASE_TYPES = (
    "bigint", "text", "text", "text", "text", "text", "text", "text", "boolean", "text", "text",
    "text", "text", "text", "text", "text", "boolean", "boolean", "text", "text", "timestamptz",
    "timestamptz", "text",
)  # fmt: skip


def _unnest_insert(table: str, columns: tuple[str, ...], types: tuple[str, ...]) -> str:
    params = ", ".join(f"${i}::{t}[]" for i, t in enumerate(types, start=1))
    return (
        f"INSERT INTO {table} ({', '.join(columns)})"
        f" SELECT * FROM unnest({params}) ON CONFLICT DO NOTHING"
    )


async def raw_complaints_drain(bootstrap: str, database_url: str) -> tuple[int, float]:
    """The complaints service's own write set, raw: per event its inbox row, its case row
    (the columns the service writes), two deadlines, the audit line and the outbox row with
    the event's bytes, into the service's own tables (its migrations, in schema
    `raw_complaints`: the same indexes and checks). One transaction per batch of set-based
    inserts (`INSERT ... SELECT FROM unnest`, as the service writes), offsets committed after.
    No validation, classification, assignment, case numbering or encoding, and no publishing
    (the service's drain also ends before its relay has published everything)."""
    conn = await asyncpg.connect(database_url)
    await conn.execute("DROP SCHEMA IF EXISTS raw_complaints CASCADE")
    await db.migrate(
        conn, schema="raw_complaints",
        folders={"shared": db.SHARED_MIGRATIONS, "complaints": COMPLAINTS_MIGRATIONS},
    )  # fmt: skip
    await conn.execute("SET search_path TO raw_complaints")
    insert_cases = _unnest_insert("cases", _CASE_COLUMNS, _CASE_TYPES) + " RETURNING id"
    insert_deadlines = _unnest_insert(
        "case_deadlines",
        ("case_id", "cycle", "limit_name", "starts_at", "due_at", "warn_at"),
        ("bigint", "int", "text", "timestamptz", "timestamptz", "timestamptz"),
    )
    insert_audit = _unnest_insert(
        "case_audit",
        ("case_id", "actor_id", "actor_role", "action", "to_status", "detail"),
        ("bigint", "text", "text", "text", "text", "jsonb"),
    )
    insert_outbox = _unnest_insert(
        "outbox", ("event_id", "topic", "key", "payload"), ("text", "text", "text", "bytea")
    )
    insert_inbox = _unnest_insert(
        "inbox", ("handler", "event_id", "topic"), ("text", "text", "text")
    )
    next_id = 1

    async def write(conn: asyncpg.Connection, records: list[ConsumerRecord[Any, Any]]) -> None:
        nonlocal next_id
        now = datetime.now(UTC)
        cases: list[tuple[Any, ...]] = []
        starts: dict[int, datetime] = {}
        outbox, inbox = [], []
        for r in records:
            doc = json.loads(r.value)
            data = doc["data"]
            patient = data.get("patient") or {}
            department = data.get("department") or {}
            submitted = datetime.fromisoformat(data["submitted_at"])
            starts[next_id] = submitted
            cases.append((
                next_id, f"RAW-{next_id}", data["channel"], data["external_id"], doc["id"],
                patient.get("patient_id"), patient.get("name"), patient.get("phone"),
                bool(patient.get("sms_opt_out")), department.get("code"),
                department.get("name"), data["description"], data.get("category"),
                "other", "default", "raw", False, False, "normal", "received", submitted,
                now, "raw",
            ))  # fmt: skip
            outbox.append((str(uuid.uuid4()), r.topic, r.key.decode() if r.key else None,
                           r.value))  # fmt: skip
            inbox.append(("raw", doc["id"], r.topic))
            next_id += 1
        await conn.execute(insert_inbox, *_columns(inbox))
        opened = [row["id"] for row in await conn.fetch(insert_cases, *_columns(cases))]
        deadlines = [
            (case_id, 1, name, starts[case_id], starts[case_id] + due,
             starts[case_id] + due * 0.8)
            for case_id in opened
            for name, due in (("first_response", timedelta(hours=24)),
                              ("fact_finding", timedelta(days=6)))
        ]  # fmt: skip
        await conn.execute(insert_deadlines, *_columns(deadlines))
        audit = [(i, "raw", "integration", "opened", "received", "{}") for i in opened]
        await conn.execute(insert_audit, *_columns(audit))
        await conn.execute(insert_outbox, *_columns(outbox))

    try:
        return await _drain(bootstrap, (topic_names.COMPLAINTS_IN,), "raw-complaints", conn, write)
    finally:
        await conn.execute("DROP SCHEMA IF EXISTS raw_complaints CASCADE")
        await conn.close()


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows as one list per column (the arrays `unnest` takes)."""
    return [list(column) for column in zip(*rows, strict=True)]
