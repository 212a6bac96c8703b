"""Sending a simulated stream: straight to the Kafka input topics, or through the
registration service's REST gateway (`POST /v1/events`), at a set rate or as fast as possible.

Delivery is at-least-once on purpose: a record whose send fails (broker restarting, gateway
killed) is sent again with the same event id, and the services' inboxes drop the repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from simulator.stream import SimEvent

Progress = Callable[[int], None]


class Pacer:
    """Keeps a sender at `rate` events per second (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.started = time.monotonic()

    async def wait_for(self, sent: int) -> None:
        if self.rate <= 0:
            return
        ahead = self.started + sent / self.rate - time.monotonic()
        if ahead > 0:
            await asyncio.sleep(ahead)


async def _start_producer(bootstrap: str, **options: Any) -> AIOKafkaProducer:
    """A started producer; while the broker cannot be reached (or refuses the login), says
    why on stderr and tries again every second (a broker restart is part of the chaos run)."""
    tries = 0
    while True:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_batch_size=256 * 1024,
            request_timeout_ms=15000,
            **options,
        )
        try:
            await producer.start()
            return producer
        except KafkaError as exc:
            tries += 1
            if tries in (3, 30) or tries % 300 == 0:
                print(f"simulator: Kafka not reachable yet, retrying: {exc}", file=sys.stderr)
            with contextlib.suppress(Exception):
                await producer.stop()
            await asyncio.sleep(1.0)


async def publish_to_kafka(
    bootstrap: str,
    events: Sequence[SimEvent],
    *,
    rate: float = 0.0,
    chunk: int = 2000,
    progress: Progress | None = None,
    on_sent: Callable[[SimEvent, float], None] | None = None,
    kafka_options: Mapping[str, Any] | None = None,
) -> int:
    """Publish every event to its topic (key = patient id); returns how many were sent.

    With `rate`, small chunks keep the pace smooth; `on_sent(event, wall_time)` is called when
    the broker acknowledged it (the start of its end-to-end latency is the send time).
    `kafka_options`: TLS / SASL client options (`hospital_shared.kafka_security`)."""
    options = dict(kafka_options or {})
    producer = await _start_producer(bootstrap, **options)
    pacer = Pacer(rate)
    size = chunk if rate <= 0 else max(1, min(chunk, int(rate / 20) or 1))
    sent = 0
    try:
        for start in range(0, len(events), size):
            part = list(events[start : start + size])
            await pacer.wait_for(sent)
            stamp = time.time()
            while part:
                part = await _send_chunk(producer, part)
                if part:  # the broker is away: start again with a fresh producer
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    await asyncio.sleep(1.0)
                    producer = await _start_producer(bootstrap, **options)
            sent += min(size, len(events) - start)
            if on_sent is not None:
                for e in events[start : start + size]:
                    on_sent(e, stamp)
            if progress is not None:
                progress(min(size, len(events) - start))
    finally:
        with contextlib.suppress(Exception):
            await producer.stop()
    return sent


async def _send_chunk(producer: AIOKafkaProducer, part: list[SimEvent]) -> list[SimEvent]:
    """Send `part`; return the events that failed (to be sent again)."""
    futures: list[tuple[SimEvent, Any]] = []
    failed: list[SimEvent] = []
    for e in part:
        try:
            fut = await producer.send(e.topic, value=e.value(), key=e.key.encode())
            futures.append((e, fut))
        except KafkaError:
            failed.append(e)
    for e, fut in futures:
        try:
            await fut
        except KafkaError:
            failed.append(e)
    return failed


async def publish_via_registration(
    url: str,
    token: str,
    events: Sequence[SimEvent],
    *,
    rate: float = 0.0,
    batch: int = 500,
    progress: Progress | None = None,
) -> int:
    """POST the events in batches to the registration gateway; a batch that fails (service
    down, 5xx) is posted again until it is accepted."""
    pacer = Pacer(rate)
    size = batch if rate <= 0 else max(1, min(batch, int(rate / 10) or 1))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    sent = 0
    async with httpx.AsyncClient(base_url=url, timeout=30.0, headers=headers) as client:
        for start in range(0, len(events), size):
            part = events[start : start + size]
            body = "[" + ",".join(e.value().decode() for e in part) + "]"
            await pacer.wait_for(sent)
            while True:
                try:
                    resp = await client.post("/v1/events", content=body.encode())
                except httpx.HTTPError:
                    await asyncio.sleep(0.5)
                    continue
                if resp.status_code == 202:
                    break
                if resp.status_code == 422:
                    raise RuntimeError(f"the gateway refused a batch: {resp.text[:500]}")
                await asyncio.sleep(0.5)
            sent += len(part)
            if progress is not None:
                progress(len(part))
    return sent


def dump_jsonl(events: Sequence[SimEvent], path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for e in events:
            fh.write(json.dumps({"topic": e.topic, "key": e.key}, ensure_ascii=False))
            fh.write("\t" + e.value().decode() + "\n")
