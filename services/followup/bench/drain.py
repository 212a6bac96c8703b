"""Drain-rate benchmark of the follow-up service: publish a backlog of mixed registration and
discharge events while the service is stopped, start it, and measure how fast it works the
backlog off (events per second, from the inbox's processing times).

    KAFKA_BOOTSTRAP_SERVERS=... DATABASE_URL=... uv run python services/followup/bench/drain.py 100000

Mix: 30% discharges, 50% registrations (60/40 first/return), 10% cancellations, 5% no-shows,
5% discharge cancellations. The service runs as a real process (`python -m followup`) with the
same environment plus FOLLOWUP_HTTP_PORT (default 48002).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaProducer

from hospital_shared import topics

NOW = datetime.now(UTC)


def _envelope(type_: str, data: dict, event_id: str, subject: str) -> bytes:
    return json.dumps({
        "specversion": "1.0", "id": event_id, "source": "urn:bench", "type": type_,
        "time": NOW.isoformat(), "subject": subject, "datacontenttype": "application/json",
        "data": data,
    }, ensure_ascii=False).encode()  # fmt: skip


def backlog(run: str, total: int) -> list[tuple[str, str, bytes]]:
    rng = random.Random(7)
    out: list[tuple[str, str, bytes]] = []
    depts = [("CARD", "心内科"), ("ORTH", "骨科"), ("PED", "儿科"), ("CS", "客服中心")]
    for i in range(total):
        pid = f"BP{run}{i % 20000:05d}"
        patient = {"patient_id": pid, "name": "张三", "phone": "13800138000"}
        code, name = rng.choice(depts)
        dept = {"code": code, "name": name}
        eid = f"bench-{run}-{i}"
        roll = rng.random()
        if roll < 0.30:
            data = {"admission_id": f"BA{run}{i}", "patient": patient, "department": dept,
                    "admitted_at": (NOW - timedelta(days=4)).isoformat(),
                    "discharged_at": NOW.isoformat(), "disposition": "home"}  # fmt: skip
            out.append((topics.DISCHARGES, pid, _envelope("patient.discharged", data, eid, pid)))
        elif roll < 0.80:
            data = {"registration_id": f"BR{run}{i}", "patient": patient, "department": dept,
                    "visit_type": "first" if rng.random() < 0.6 else "return",
                    "channel": "online", "registered_at": NOW.isoformat()}  # fmt: skip
            out.append(
                (topics.REGISTRATIONS, pid, _envelope("registration.created", data, eid, pid))
            )
        elif roll < 0.90:
            data = {"registration_id": f"BR{run}{i - 1}", "cancelled_at": NOW.isoformat()}
            out.append(
                (topics.REGISTRATIONS, pid, _envelope("registration.cancelled", data, eid, pid))
            )
        elif roll < 0.95:
            data = {"registration_id": f"BR{run}{i - 2}"}
            out.append(
                (topics.REGISTRATIONS, pid, _envelope("registration.no_show", data, eid, pid))
            )
        else:
            data = {"admission_id": f"BA{run}{i - 3}"}
            out.append((topics.DISCHARGES, pid, _envelope("discharge.cancelled", data, eid, pid)))
    return out


async def publish(bootstrap: str, records: list[tuple[str, str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks="all",
                                max_batch_size=256 * 1024, enable_idempotence=True)  # fmt: skip
    await producer.start()
    try:
        for start in range(0, len(records), 5000):
            futures = [await producer.send(t, value=v, key=k.encode())
                       for t, k, v in records[start:start + 5000]]  # fmt: skip
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


def _profiler() -> list[str]:
    """BENCH_PROFILE=<file>: run the service under cProfile, written to <file> at exit."""
    target = os.environ.get("BENCH_PROFILE")
    return ["-m", "cProfile", "-o", target] if target else []


async def main(total: int) -> None:
    bootstrap, dsn = os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["DATABASE_URL"]
    run = uuid.uuid4().hex[:8]
    records = backlog(run, total)
    t0 = time.monotonic()
    await publish(bootstrap, records)
    print(f"published {total} events in {time.monotonic() - t0:.1f}s; starting the service")
    env = {**os.environ, "FOLLOWUP_HTTP_PORT": os.environ.get("FOLLOWUP_HTTP_PORT", "48002")}
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *_profiler(), "-m", "followup", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        conn = await asyncpg.connect(dsn)
        like = f"bench-{run}-%"
        done = 0
        while done < total:
            await asyncio.sleep(1)
            try:
                done = await conn.fetchval(
                    "SELECT count(*) FROM followup.inbox WHERE event_id LIKE $1", like
                )
            except asyncpg.UndefinedTableError:
                done = 0
            print(f"  {time.monotonic() - started:6.1f}s  {done} handled", flush=True)
        first, last = await conn.fetchrow(
            "SELECT min(processed_at), max(processed_at) FROM followup.inbox WHERE event_id LIKE $1",
            like,
        )
        wall = time.monotonic() - started
        span = (last - first).total_seconds()
        print(f"drained {total} events: {total / span:.0f} events/s while consuming "
              f"({span:.1f}s first to last transaction); {total / wall:.0f} events/s "
              f"including the service start ({wall:.1f}s)")  # fmt: skip
        await conn.close()
    finally:
        proc.terminate()
        await proc.wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
