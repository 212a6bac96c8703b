"""Notifications' own CPU per consumed event, without Kafka or the machine's load in the way:
the records of a bench backlog are replayed in-process through the service's reliable
consumer (decoding, inbox, handlers, the batch's statements) on a fresh schema, in batches
of the service's size, and the process's CPU time is divided by the events. The events the
service does not act on (a task planned with nobody to tell...) are decoded and counted, and
go no further, as in the service (`acts_on`).

    BENCH_PORT_SHIFT=15500 uv run python -m bench.notifications_micro capture
    BENCH_PORT_SHIFT=15500 uv run python -m bench.notifications_micro run [--rounds 3] \\
        [--profile /tmp/notifications.prof]

`capture` copies what notifications consumes from the bench stack's Kafka (after a
`bench.ab_drain` run kept with BENCH_KEEP_STACK=1, so follow-up's and complaints' events are
there too) into bench/profiles/notifications_records.pkl; `run` replays them against the
bench stack's PostgreSQL. The garbage collector is set as in the service. CPU time is the process's (user + system): PostgreSQL's is not in
it, and on a loaded machine it still drifts a little (caches, frequency), so compare codes
in the same session. Batches run one transaction at a time (the service runs two at once;
the CPU per event is the same)."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pickle
import statistics
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from bench.drain import CONSUMED
from bench.stack import SERVICE_ENV, bench_config
from hospital_shared import db
from hospital_shared.runtime import settle_heap

RECORDS = Path(__file__).resolve().parent / "profiles" / "notifications_records.pkl"


def _stack_env() -> dict[str, str]:
    env_file = bench_config().state_dir / "env"
    out = {}
    for line in env_file.read_text().splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        out[key] = value.strip("'")
    return out


async def capture() -> None:
    env = _stack_env()
    consumer = AIOKafkaConsumer(
        *CONSUMED["notifications"],
        bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        parts = consumer.assignment()
        while not parts:
            await asyncio.sleep(0.1)
            parts = consumer.assignment()
        ends = await consumer.end_offsets(list(parts))
        records: list[tuple[Any, ...]] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for recs in batch.values():
                records += [
                    (r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, r.headers)
                    for r in recs
                ]
    finally:
        await consumer.stop()
    records.sort(key=lambda r: (r[3], r[0], r[1], r[2]))  # roughly as a consumer meets them
    RECORDS.parent.mkdir(exist_ok=True)
    RECORDS.write_bytes(pickle.dumps(records))
    print(f"{len(records)} records: {dict(Counter(r[0] for r in records))}")


def _record(r: tuple[Any, ...]) -> ConsumerRecord[Any, Any]:
    topic, partition, offset, timestamp, key, value, headers = r
    return ConsumerRecord(
        topic, partition, offset, timestamp, 0, key, value, None,
        len(key or b""), len(value or b""), list(headers),
    )  # fmt: skip


async def _consumer(database_url: str, schema: str) -> Any:
    """The service's consumer as app.py wires it, on a new schema."""
    from hospital_shared.consumer import ReliableConsumer
    from hospital_shared.patient_merge import following_merges, is_merge
    from notifications import app, repository
    from notifications import handlers as handlers_module
    from notifications.handlers import EventHandlers, utc_now
    from notifications.settings import Settings

    handlers_module._parsed_phone.cache_clear()  # each round as a new process meets its numbers
    settings = Settings()
    conn = await asyncpg.connect(database_url)
    try:
        folders = {"shared": db.SHARED_MIGRATIONS, "notifications": app.MIGRATIONS}
        await db.migrate(conn, schema=schema, folders=folders)
    finally:
        await conn.close()
    pool = await db.create_pool(database_url, schema=schema, max_size=2)
    async with pool.acquire() as c:
        await repository.seed_templates(c)
    rules = app.sending_rules(settings)
    handlers = EventHandlers(
        app.planning_rules(settings), rules.quiet_hours, region=settings.phone_region,
        clock=utc_now, staff_rules=app.staff_rules(settings), survey_secret=settings.survey_secret,
    )  # fmt: skip
    handle_batch = following_merges(handlers.handle_batch, app.PATIENT_MOVES)

    async def no_dead_letters(*_: Any) -> None:
        raise AssertionError("the backlog has no invalid record")

    return ReliableConsumer(
        service="notifications", handler_name="notify", handle=None,  # type: ignore[arg-type]
        handle_batch=handle_batch, pool=pool, dead_letter=no_dead_letters,
        max_attempts=1, concurrency=1,
        acts_on=lambda event: is_merge(event) or handlers.acts_on(event),
    )  # fmt: skip


async def one_round(records: list[tuple[Any, ...]], batch: int, profile: str | None) -> float:
    """CPU ms per event of one replay from an empty schema."""
    os.environ.update(SERVICE_ENV["notifications"])
    url = _stack_env()["DATABASE_URL"]
    schema = f"micro_{uuid.uuid4().hex[:8]}"
    consumer = await _consumer(url, schema)
    gc.freeze()  # as the service does once started (hospital_shared.runtime)
    batches = [[_record(r) for r in records[i : i + batch]] for i in range(0, len(records), batch)]
    profiler = cProfile.Profile(time.process_time) if profile else None
    try:
        started = time.process_time()
        if profiler:
            profiler.enable()
        for b in batches:
            await consumer.process_batch(b)
        if profiler and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        return 1000 * (time.process_time() - started) / len(records)
    finally:
        await consumer.pool.close()
        conn = await asyncpg.connect(url)
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


async def run(rounds: int, batch: int, profile: str | None) -> None:
    records = pickle.loads(RECORDS.read_bytes())
    settle_heap()  # the service's garbage-collector settings (hospital_shared.runtime.serve)
    cpu = [await one_round(records, batch, profile if i == 0 else None) for i in range(rounds)]
    print(
        f"{len(records)} events, batches of {batch}: CPU ms/event {[round(c, 4) for c in cpu]}"
        f" median {statistics.median(cpu):.4f} (load {os.getloadavg()[0]:.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("capture", "run"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--profile")
    args = parser.parse_args()
    if args.what == "capture":
        asyncio.run(capture())
    else:
        asyncio.run(run(args.rounds, args.batch, args.profile))


if __name__ == "__main__":
    main()
