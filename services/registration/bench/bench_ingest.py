"""Throughput of the registration service's doors, against a running service (for `make bench`).

    python services/registration/bench/bench_ingest.py --url http://127.0.0.1:8001 \
        --mllp-port 2575 --token dev-integration-token

Prints events/s through POST /v1/events in batches of 500, single-event POSTs/s, and HL7
messages/s on one MLLP connection. Every run uses fresh ids.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

import httpx

NOW = "2026-11-23T09:30:00+08:00"


def registration(n: int, tag: str) -> dict[str, Any]:
    return {
        "registration_id": f"B{tag}-{n}",
        "patient": {"patient_id": f"BP{tag}-{n % 5000}", "name": "张三", "phone": "13800138000"},
        "department": {"code": "CARD", "name": "心内科"},
        "visit_type": "first",
        "channel": "online",
        "registered_at": NOW,
    }


def event(n: int, tag: str) -> dict[str, Any]:
    data = registration(n, tag)
    return {
        "specversion": "1.0", "id": f"{tag}-{n}", "source": "urn:bench", "time": NOW,
        "type": "registration.created", "subject": data["patient"]["patient_id"], "data": data,
    }  # fmt: skip


async def bench_batches(
    client: httpx.AsyncClient, *, batches: int, size: int, concurrency: int
) -> float:
    tag = uuid.uuid4().hex[:8]
    bodies = [[event(b * size + i, tag) for i in range(size)] for b in range(batches)]
    queue = list(bodies)

    async def worker() -> None:
        while queue:
            body = queue.pop()
            resp = await client.post("/v1/events", json=body)
            assert resp.status_code == 202, resp.text[:300]

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return batches * size / (time.perf_counter() - start)


async def bench_single(client: httpx.AsyncClient, *, count: int, concurrency: int) -> float:
    tag = uuid.uuid4().hex[:8]
    remaining = list(range(count))

    async def worker() -> None:
        while remaining:
            n = remaining.pop()
            resp = await client.post("/v1/registrations", json=registration(n, tag))
            assert resp.status_code == 202, resp.text[:300]

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - start)


async def bench_mllp(port: int, *, count: int) -> float:
    tag = uuid.uuid4().hex[:8]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.perf_counter()
    for n in range(count):
        msg = (
            f"MSH|^~\\&|BENCH|H|OPS|REG|20261123093000||ADT^A04^ADT_A01|{tag}-{n}|P|2.5||||||UNICODE UTF-8\r"
            f"EVN|A04|20261123093000\r"
            f"PID|1||BP{tag}-{n % 5000}^^^H^MR||张^三||||||||13800138000\r"
            f"PV1|1|O|CARD^^^^^^^^心内科|F|||||||||||||||H{tag}-{n}\r"
        ).encode()
        writer.write(b"\x0b" + msg + b"\x1c\x0d")
        await writer.drain()
        ack = await reader.readuntil(b"\x1c\x0d")
        assert b"MSA|AA" in ack, ack
    elapsed = time.perf_counter() - start
    writer.close()
    return count / elapsed


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", default="http://127.0.0.1:8001")
    p.add_argument("--mllp-port", type=int, default=2575)
    p.add_argument("--token", default="dev-integration-token")
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--concurrency", type=int, default=4)
    a = p.parse_args()
    headers = {"Authorization": f"Bearer {a.token}"}
    async with httpx.AsyncClient(base_url=a.url, headers=headers, timeout=60) as client:
        rate = await bench_batches(client, batches=a.batches, size=500, concurrency=a.concurrency)
        print(f"POST /v1/events, batches of 500: {rate:,.0f} events/s")
        rate = await bench_single(client, count=2000, concurrency=a.concurrency * 4)
        print(f"POST /v1/registrations, one event each: {rate:,.0f} requests/s")
    rate = await bench_mllp(a.mllp_port, count=2000)
    print(f"HL7 ADT^A04 on one MLLP connection: {rate:,.0f} messages/s")


if __name__ == "__main__":
    asyncio.run(main())
