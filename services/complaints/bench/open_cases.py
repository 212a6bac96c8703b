"""Benchmark: complaint cases opened per second, through the API and through Kafka.

Run against a running stack and complaints service (the variables of `<state>/env`):
    set -a; . .stack/env; set +a
    uv run python services/complaints/bench/open_cases.py --api 2000 --kafka 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

TEXTS = (
    "候诊排队等了三个小时",
    "药费多收了200元",
    "护士态度很差",
    "病房卫生太差",
    "做了CT报告有误",
)


async def bench_api(url: str, token: str, count: int, concurrency: int) -> float:
    run = uuid.uuid4().hex[:8]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    headers = {"Authorization": f"Bearer {token}"}

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            body = {
                "channel": "phone",
                "description": TEXTS[i % len(TEXTS)],
                "external_id": f"bench-api-{run}-{i}",
                "patient": {"patient_id": f"PB{run}{i}", "name": "测试", "phone": "13800138000"},
                "department": {"code": "CS", "name": "客服中心"},
            }
            r = await client.post(f"{url}/v1/cases", json=body, headers=headers)
            r.raise_for_status()

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as c:
        await asyncio.gather(*(worker(c) for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def bench_kafka(bootstrap: str, dsn: str, count: int) -> float:
    run = uuid.uuid4().hex[:8]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "complaints"})
    try:
        now = datetime.now(UTC).isoformat()
        started = time.perf_counter()
        for i in range(count):
            data = {
                "external_id": f"bench-kafka-{run}-{i}",
                "channel": "online",
                "patient": {"patient_id": f"PK{run}{i}", "name": "测试", "phone": "13800138000"},
                "department": {"code": "CARD", "name": "心内科"},
                "description": TEXTS[i % len(TEXTS)],
                "submitted_at": now,
            }
            event = {
                "specversion": "1.0",
                "id": str(uuid.uuid4()),
                "source": "urn:bench",
                "type": "complaint.submitted",
                "time": now,
                "subject": data["external_id"],
                "datacontenttype": "application/json",
                "data": data,
            }
            await producer.send(
                "hospital.complaints.v1",
                json.dumps(event).encode(),
                key=data["patient"]["patient_id"].encode(),
            )  # type: ignore[index]
        await producer.flush()
        while True:
            done = await conn.fetchval(
                "SELECT count(*) FROM cases WHERE external_id LIKE $1", f"bench-kafka-{run}-%"
            )
            if done >= count:
                return count / (time.perf_counter() - started)
            await asyncio.sleep(0.2)
    finally:
        await producer.stop()
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", type=int, default=2000)
    parser.add_argument("--kafka", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    env = os.environ
    if args.api:
        rate = await bench_api(
            env["COMPLAINTS_URL"], env["TOKEN_AGENT"], args.api, args.concurrency
        )
        print(f"API:   {args.api} cases, {rate:.0f} cases/s (concurrency {args.concurrency})")
    if args.kafka:
        rate = await bench_kafka(env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"], args.kafka)
        print(f"Kafka: {args.kafka} cases, {rate:.0f} cases/s (publish to case row)")


if __name__ == "__main__":
    asyncio.run(main())
