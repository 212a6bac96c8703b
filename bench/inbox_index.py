"""Benchmark (not a test) of the consumers' inbox insert with the inbox indexed on
`processed_at` (as it is) and on `(topic, processed_at)` (what the inbox's retention could
have used instead; not taken), in one run: two tables with the primary key and one of the two indexes each, filled alternately
with the consumer's own statement (`consumer.py`, a batch of 1,000 new events on four topics
in one transaction), `--rounds` rounds of `--batches` batches each, the order swapped every
round. Prints and writes microseconds a row by round and the indexes' sizes.

    DEVSTACK_TEST_PORT_OFFSET=14500 uv run python -m bench.inbox_index \\
        [--rounds 6] [--batches 100] [--out bench/inbox_index_results.json]

The test stack's PostgreSQL (started if it does not run, and then stopped again).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

import devstack
from devstack import postgres

REPO = Path(__file__).resolve().parent.parent
INDEXES = {"processed_at": "(processed_at)", "topic_processed_at": "(topic, processed_at)"}
TOPICS = ("hospital.registrations.v1", "hospital.discharges.v1", "followup.tasks.v1",
          "notifications.messages.v1")  # fmt: skip
_INSERT = (
    "INSERT INTO {table} (handler, event_id, topic) SELECT $1, e.id, e.topic"
    " FROM unnest($2::text[], $3::text[]) AS e(id, topic) ON CONFLICT DO NOTHING"
    " RETURNING event_id"
)


async def fill(conn: asyncpg.Connection, table: str, batches: int) -> float:
    """Microseconds a row for `batches` batches of 1,000 new events (their ids made first)."""
    work = [
        ([str(uuid.uuid4()) for _ in range(1000)], [TOPICS[i % 4] for i in range(1000)])
        for _ in range(batches)
    ]
    started = time.perf_counter()
    for ids, topics in work:
        async with conn.transaction():
            await conn.fetch(_INSERT.format(table=table), "handler", ids, topics)
    return (time.perf_counter() - started) / (batches * 1000) * 1e6


async def run(dsn: str, rounds: int, batches: int) -> dict[str, Any]:
    schema = f"inbox_index_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}; SET search_path TO {schema}")
        for table, columns in INDEXES.items():
            await conn.execute(
                f"CREATE TABLE {table} (handler text NOT NULL, event_id text NOT NULL,"
                " topic text NOT NULL, processed_at timestamptz NOT NULL DEFAULT now(),"
                f" PRIMARY KEY (handler, event_id)); CREATE INDEX ON {table} {columns}"
            )
        us: dict[str, list[float]] = {table: [] for table in INDEXES}
        for round_ in range(rounds):
            order = list(INDEXES) if round_ % 2 == 0 else list(reversed(INDEXES))
            for table in order:
                us[table].append(round(await fill(conn, table, batches), 2))
        sizes = await conn.fetch(
            "SELECT c.relname, pg_relation_size(c.oid) AS bytes FROM pg_class c"
            " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'i'"
            " ORDER BY 1"
        )
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()
    return {
        "us_a_row": us,
        "median_us_a_row": {table: statistics.median(v) for table, v in us.items()},
        "index_kib": {r["relname"]: r["bytes"] // 1024 for r in sizes},
        "rows_a_table": rounds * batches * 1000,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    cfg = devstack.StackConfig.for_tests(REPO)
    ran_before = postgres.running_pid(cfg) is not None
    try:
        devstack.start_postgres(cfg)
        return await run(cfg.env()["DATABASE_URL"], args.rounds, args.batches)
    finally:
        if not ran_before:
            devstack.stop_postgres(cfg)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "inbox_index_results.json")
    args = parser.parse_args()
    result = asyncio.run(main(args))
    for table, values in result["us_a_row"].items():
        print(
            f"inbox indexed on {table}: {values} us a row, median {result['median_us_a_row'][table]}"
        )
    print(f"index sizes (KiB): {result['index_kib']}")
    record = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load": os.getloadavg()[0],
        **result,
    }
    args.out.write_text(json.dumps(record, indent=2) + "\n")
