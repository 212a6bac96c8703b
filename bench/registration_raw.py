"""The raw limit of the registration gateway's write path on this machine (issue 3).

    uv run python bench/registration_raw.py            # own Kafka + PostgreSQL, then stops them

What `POST /v1/events` must make durable for a batch of new registrations, with nothing else:
no HTTP, no JSON parsing or validation, no domain rules, no encoding (the rows and the CloudEvent
payloads are built before the clock starts). Each batch of 500 is one transaction of the
service's own statements, run back to back by `--concurrency` writers:

- `service-sql`: exactly what the service runs (registration/repository.py, outbox.py): claim
  the event ids, lock and read the visits, upsert them, add the events to the outbox;
- `lean`: the least a durable, de-duplicating design could do: claim the ids, insert the
  visits, add to the outbox (no locks, no read).

The outbox relay (hospital_shared.outbox, the service's own) publishes to Kafka meanwhile, with
the service's idempotent producer settings. Reported: events/s committed, events/s until all
were published, and the CPU time PostgreSQL, Kafka and this process spent per event (from the
first write until the last event was published).
Figures are merged into `bench/results.json` under "registration_raw".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parent))
import registration_ingest as ingest  # the same payloads, the same stack

from hospital_shared import db
from hospital_shared.codec import encode_new_event
from hospital_shared.events import EVENT_TYPES
from hospital_shared.outbox import OutboxRelay
from hospital_shared.publishing import publish_records

MIGRATIONS = ingest.REPO / "services" / "registration" / "migrations"
SCHEMA = "raw_registration"
TOPIC = EVENT_TYPES["registration.created"].topic
MODEL = EVENT_TYPES["registration.created"].model
TARGET = 20_000  # events/s, issue 3

CLAIM = (
    "INSERT INTO received_events (event_id) SELECT unnest($1::text[])"
    " ON CONFLICT DO NOTHING RETURNING event_id"
)
LOCK = (
    "SELECT count(pg_advisory_xact_lock(h)) FROM"
    " (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) k ORDER BY 1) s"
)
READ = (
    "SELECT v.kind, v.visit_id, v.patient_id, v.status, v.record::text AS record,"
    " v.phone_usable FROM visits v JOIN unnest($1::text[], $2::text[]) AS w(kind, visit_id)"
    " USING (kind, visit_id)"
)
UPSERT = (
    "INSERT INTO visits (kind, visit_id, patient_id, status, record, phone_usable)"
    " SELECT k, i, p, s, r::jsonb, u FROM unnest($1::text[], $2::text[], $3::text[],"
    " $4::text[], $5::text[], $6::bool[]) AS t(k, i, p, s, r, u)"
    " ON CONFLICT (kind, visit_id) DO UPDATE SET patient_id = EXCLUDED.patient_id,"
    " status = EXCLUDED.status, record = EXCLUDED.record,"
    " phone_usable = EXCLUDED.phone_usable, updated_at = now()"
)
INSERT = (
    "INSERT INTO visits (kind, visit_id, patient_id, status, record, phone_usable)"
    " SELECT k, i, p, s, r::jsonb, u FROM unnest($1::text[], $2::text[], $3::text[],"
    " $4::text[], $5::text[], $6::bool[]) AS t(k, i, p, s, r, u)"
)
OUTBOX = (
    "WITH added AS (INSERT INTO outbox (event_id, topic, key, payload)"
    " SELECT e.event_id, e.topic, e.key, e.payload"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[])"
    " WITH ORDINALITY AS e(event_id, topic, key, payload, n) ORDER BY n"
    " ON CONFLICT (event_id) DO NOTHING)"
    " SELECT pg_notify(current_schema() || '_outbox', '')"
)


def prepared_batch(b: int, size: int, tag: str) -> dict[str, list[Any]]:
    """Every argument of a batch's statements, ready: nothing left to compute but the SQL."""
    ids, kinds, visit_ids, patients, records, topics, keys, payloads = ([] for _ in range(8))
    for i in range(size):
        event = ingest.event(b * size + i, tag)
        data = event["data"]
        ids.append(event["id"])
        kinds.append("registration")
        visit_ids.append(data["registration_id"])
        patients.append(data["patient"]["patient_id"])
        records.append(json.dumps(data, ensure_ascii=False))
        topics.append(TOPIC)
        keys.append(data["patient"]["patient_id"])
        patient_id = data["patient"]["patient_id"]
        payloads.append(
            encode_new_event(
                "registration.created",
                MODEL.model_validate(data),
                event_id=f"out-{event['id']}",
                source="urn:bench",
                subject=patient_id,
                time=datetime.fromisoformat(ingest.NOW),
            )
        )
    return {
        "ids": ids,
        "visit": [kinds, visit_ids, patients, ["registered"] * size, records, [True] * size],
        "locks": [f"registration:{v}" for v in visit_ids],
        "outbox": [[f"out-{i}" for i in ids], topics, keys, payloads],
    }


async def write(conn: asyncpg.Connection, batch: dict[str, Any], mode: str) -> None:
    async with conn.transaction():
        await conn.fetch(CLAIM, batch["ids"])
        if mode == "service-sql":
            await conn.execute(LOCK, batch["locks"])
            await conn.fetch(READ, batch["visit"][0], batch["visit"][1])
            await conn.execute(UPSERT, *batch["visit"])
        else:
            await conn.execute(INSERT, *batch["visit"])
        await conn.execute(OUTBOX, *batch["outbox"])


async def run_mode(
    stack: dict[str, Any], mode: str, *, batches: int, size: int, concurrency: int
) -> dict[str, float]:
    dsn = stack["database_url"]
    async with contextlib.AsyncExitStack() as exits:
        setup = await asyncpg.connect(dsn)
        await setup.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
        await db.migrate(
            setup, schema=SCHEMA, folders={"shared": db.SHARED_MIGRATIONS, "raw": MIGRATIONS}
        )
        await setup.close()
        pool = await db.create_pool(dsn, schema=SCHEMA, min_size=concurrency + 2, max_size=16)
        exits.push_async_callback(pool.close)
        producer = AIOKafkaProducer(
            bootstrap_servers=stack["bootstrap"],
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_batch_size=256 * 1024,
        )
        await producer.start()
        exits.push_async_callback(producer.stop)
        relay = OutboxRelay(pool, lambda records: publish_records(producer, records), service="raw")
        tag = uuid.uuid4().hex[:8]
        queue = [prepared_batch(b, size, tag) for b in range(batches)]
        relay_task = asyncio.create_task(relay.run())
        exits.callback(relay_task.cancel)

        async def writer() -> None:
            async with pool.acquire() as conn:
                while queue:
                    await write(conn, queue.pop(), mode)

        cpu_before = stack_cpu_seconds(stack["config"])
        start = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(concurrency)))
        committed = time.perf_counter() - start
        async with pool.acquire() as conn:
            while await conn.fetchval(ingest.ANY_UNPUBLISHED.format(schema=SCHEMA)):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        drained = time.perf_counter() - start
        cpu = {k: v - cpu_before[k] for k, v in stack_cpu_seconds(stack["config"]).items()}
    events = batches * size
    return {
        "events_per_s": events / committed,
        "events_drained_per_s": events / drained,
        **{f"{k}_cpu_us_per_event": v * 1e6 / events for k, v in cpu.items()},
    }


def stack_cpu_seconds(cfg: Any) -> dict[str, float]:
    """CPU seconds so far of this stack's PostgreSQL (the postmaster and its backends), its
    Kafka broker and this process; other stacks on the machine are not counted."""
    from devstack import postgres, procs

    postmaster = postgres.running_pid(cfg)
    pids: dict[str, list[int | None]] = {
        "this_process": [os.getpid()],
        "kafka": [procs.running(cfg, "kafka")],
        "postgres": [],
    }
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if int(pid) == postmaster or parent == postmaster:
            pids["postgres"].append(int(pid))
    return {
        key: sum(ingest.cpu_seconds(p) or 0.0 for p in found if p is not None)
        for key, found in pids.items()
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--batches", type=int, default=200, help="batches of 500 per mode")
    p.add_argument("--concurrency", type=int, default=4, help="writers (transactions) at once")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--no-save", action="store_true")
    args = p.parse_args(argv)
    results: dict[str, list[dict[str, float]]] = {}
    with ingest.own_stack(keep=False, with_service=False) as stack:
        for _ in range(args.rounds):
            for mode in ("service-sql", "lean"):
                run = run_mode(
                    stack, mode, batches=args.batches, size=500, concurrency=args.concurrency
                )
                figures = asyncio.run(run)
                results.setdefault(mode, []).append(figures)
    keys = list(next(iter(results.values()))[0])
    summary = {
        mode: {k: round(statistics.median(r[k] for r in rounds), 2) for k in keys}
        for mode, rounds in results.items()
    }
    print(f"{'registration write path, raw (median)':<44} " + " ".join(f"{m:>12}" for m in summary))
    for k in keys:
        print(f"{k:<44} " + " ".join(f"{summary[m][k]:>12,.1f}" for m in summary))
    for mode, figures in summary.items():
        store = figures["postgres_cpu_us_per_event"] + figures["kafka_cpu_us_per_event"]
        print(
            f"{mode}: PostgreSQL + Kafka {store:.0f} us of CPU per event; at {TARGET:,} events/s"
            f" that is {store * TARGET / 1e6:.2f} of this machine's {os.cpu_count()} cores"
        )
    print(f"({args.rounds} rounds; batches of 500, {args.concurrency} writers)")
    if not args.no_save:
        ingest.merge_results({"modes": summary, "rounds": results}, key="registration_raw")
    return 0


if __name__ == "__main__":
    sys.exit(main())
