"""Benchmark (not a test) of notifications' retention purge on a table of realistic size: how
long one pass takes to destroy the messages past retention, with the indexes on the two
references between messages (migration 370) and without them, alternated in one run.

    DEVSTACK_TEST_PORT_OFFSET=14500 uv run python -m bench.retention_purge \\
        [--messages 60000] [--old 3000] [--rounds 2] [--out bench/retention_purge_results.json]

The test stack's PostgreSQL (`DEVSTACK_TEST_PORT_OFFSET` picks which test stack), started if
it does not run and then stopped again at the end; nothing else of the stack is needed. Each
arm gets a new schema with the service's migrations; "without" drops the two indexes of 370
again. The table is seeded in SQL: `--messages` rows, of which `--old` are finished and past
the 730-day retention; one message in 50 is a resend of an older one and one in 50 a note
folded into a digest, so both references are in use as in a hospital's table. Timed: one
`retention.purge_expired` with the service's batch size (5,000) and its pool (a statement
that runs 30 s is cancelled, as in the service: the arm then reports that nothing was
purged), wall clock and the backend's CPU (from /proc, the bench and the database on one
machine). Seeding is not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

import devstack
from devstack import postgres
from hospital_shared import db

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "services" / "notifications")]

from notifications import app, retention  # noqa: E402
from notifications.settings import Settings  # noqa: E402

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
RETENTION_DAYS = 730
NEW_INDEXES = ("messages_resend_of", "messages_digest_id")

# `--messages` rows: the first `--old` finished 800 days ago, the rest in the last 30 days.
# Every 50th row resends the row before it, every 50th (offset 25) is folded into the digest
# row before it: the references point within the same age, as they do in a hospital's table.
_SEED = """
INSERT INTO messages (id, idempotency_key, source_event_id, source_event_type, template,
                      audience, channel, patient_id, body, encoding, segments, status, due_at,
                      send_after, to_number, finished_at, created_at, updated_at)
SELECT md5('m' || g)::uuid, 'bench:' || g, 'E-' || g, 'registration.created', 'visit_reminder',
       'patient', 'sms', 'P' || (g % 20000), '您好，明天上午九点请到门诊三楼就诊。', 'ucs2', 1,
       'delivered', at, at, '+8613800138000', at, at, at
  FROM generate_series(1, $1::int) AS g,
       LATERAL (SELECT CASE WHEN g <= $2 THEN $3::timestamptz - interval '800 days'
                            ELSE $3::timestamptz - (g % 30) * interval '1 day' END AS at) t
"""
_LINK = """
UPDATE messages m SET resend_of = md5('m' || (g - 1))::uuid
  FROM generate_series(2, $1::int) AS g
 WHERE g % 50 = 0 AND m.id = md5('m' || g)::uuid;
UPDATE messages m SET digest_id = md5('m' || (g - 1))::uuid, status = 'digested'
  FROM generate_series(2, $1::int) AS g
 WHERE g % 50 = 25 AND m.id = md5('m' || g)::uuid;
"""


async def seeded_schema(dsn: str, messages: int, old: int, *, with_indexes: bool) -> str:
    schema = f"purge_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dsn)
    try:
        folders = {"shared": db.SHARED_MIGRATIONS, "notifications": app.MIGRATIONS}
        await db.migrate(conn, schema=schema, folders=folders)
        await conn.execute(f"SET search_path TO {schema}")
        if not with_indexes:
            for name in NEW_INDEXES:
                await conn.execute(f"DROP INDEX {name}")
        await conn.execute(_SEED, messages, old, NOW)
        await conn.execute(_LINK.replace("$1::int", str(int(messages))))
        await conn.execute("VACUUM ANALYZE messages")
    except BaseException:  # a half-seeded schema is not left behind
        with contextlib.suppress(asyncpg.PostgresError, OSError):
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        raise
    finally:
        await conn.close()
    return schema


def backend_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_arm(dsn: str, messages: int, old: int, *, with_indexes: bool) -> dict[str, Any]:
    schema = await seeded_schema(dsn, messages, old, with_indexes=with_indexes)
    pool = await db.create_pool(dsn, schema=schema, max_size=1)
    try:
        async with pool.acquire() as conn:
            backend = await conn.fetchval("SELECT pg_backend_pid()")
        cpu0, t0 = backend_cpu_s(backend), time.perf_counter()
        try:
            purged: int | None = (
                await retention.purge_expired(
                    pool,
                    retention_days=RETENTION_DAYS,
                    now=NOW,
                    batch_size=Settings().retention_batch_size,
                )
            ).messages
        except TimeoutError:  # the pool's 30 s statement timeout, as in the service
            purged = None
        wall, cpu = time.perf_counter() - t0, backend_cpu_s(backend) - cpu0
        async with pool.acquire() as conn:
            left = await conn.fetchval("SELECT count(*) FROM messages")
    finally:
        await pool.close()
        conn = await asyncpg.connect(dsn)
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
    return {
        "indexes": "with" if with_indexes else "without",
        "messages": messages, "purged": purged, "left": left,
        "wall_s": round(wall, 3), "backend_cpu_s": round(cpu, 3),
    }  # fmt: skip


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    cfg = devstack.StackConfig.for_tests(REPO)
    ran_before = postgres.running_pid(cfg) is not None
    try:
        devstack.start_postgres(cfg)
        return await all_arms(args, cfg.env()["DATABASE_URL"])
    finally:
        if not ran_before:
            devstack.stop_postgres(cfg)


async def all_arms(args: argparse.Namespace, dsn: str) -> list[dict[str, Any]]:
    results = []
    for round_ in range(args.rounds):
        for with_indexes in (False, True):
            r = await one_arm(dsn, args.messages, args.old, with_indexes=with_indexes)
            r["round"] = round_ + 1
            outcome = (
                f"{r['purged']:,} purged" if r["purged"] is not None
                else "the purge's statement timed out (30 s): nothing purged"
            )  # fmt: skip
            print(
                f"round {r['round']} {r['indexes']:>7} the indexes, {r['messages']:,} messages:"
                f" {outcome} in {r['wall_s']:.2f} s (PostgreSQL CPU {r['backend_cpu_s']:.2f} s),"
                f" {r['left']:,} left",
                flush=True,
            )
            results.append(r)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--old", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "retention_purge_results.json")
    args = parser.parse_args()
    results = asyncio.run(main(args))
    record = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load": os.getloadavg()[0],
        "results": results,
    }
    args.out.write_text(json.dumps(record, indent=2) + "\n")
