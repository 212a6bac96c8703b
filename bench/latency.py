"""Steady latency: with every service running, publish at a fixed rate and measure, per
input event, the time from its send to its effects: the follow-up task committed (what the
API shows), the SMS submitted to Kannel (Kannel accepted it; from when it was due) and its
delivery receipt recorded (the operator's receipt back through Kannel), the metrics counter
moved. The operator is the stack's (DEVSTACK_SMSC): fakesmsc, or the SMPP simulator."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import asyncpg

from bench.cpu_window import Meter
from simulator.hospital import Rates
from simulator.publish import _start_producer
from simulator.stream import SimConfig, SimEvent, generate

# Every SMS an input event causes (reminders, discharge notices, complaint acknowledgements,
# staff texts): at 200 events/s the discharge notices alone were ~115 in 30 s, so their p99
# was the second-worst value.
NOTICES = ("discharge_care_notice", "discharge_safety_notice")


@dataclass
class Latency:
    effect: str
    n: int
    p50_ms: float
    p99_ms: float
    p95_ms: float = float("nan")
    # effects still missing when the wait ended (SMS due but not handed over, receipts not
    # back, events not counted): the percentiles are of those that happened, a lower bound
    # when this is not 0
    unfinished: int = 0


@dataclass
class Sent:
    """What the generator really did: its rate is the target only if it kept its pace. Each
    event's latency starts when its chunk was handed to the producer (not when it was
    scheduled), so the generator's own lag is not counted in the latencies; it is shown here."""

    events: int
    seconds: float  # from the first chunk's send to the last chunk's acknowledgement
    per_s: float
    behind_schedule_max_ms: float  # the latest a chunk went out against its scheduled time
    load_average_1m: float  # at the end of the sending
    # the machine's CPU over the sending (bench/cpu_window.py), when the caller measured it
    cpu: dict[str, Any] | None = None


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def stream_for(rate: int, seconds: float, run_id: str) -> list[SimEvent]:
    n = int(rate * seconds)
    days = 0.1
    cfg = SimConfig(
        start=datetime.now(UTC) - timedelta(hours=2),
        seed=rate,
        days=days,
        rates=replace(Rates(), visits_per_day=int(n / (1.1 * days)) + 10),
        run_id=run_id,
        max_events=n,
    )
    return generate(cfg)


# How often the sender wakes to send what has fallen due (events/s x TICK_S per wake).
TICK_S = 0.01


class Producer(Protocol):
    async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future[Any]: ...


async def paced_send(
    producer: Producer, events: list[SimEvent], rate: float,
    on_sent: Callable[[SimEvent, float], None],
) -> None:  # fmt: skip
    """Send `events` at `rate`, each stamped when it is handed to the producer, without
    waiting for a batch's acknowledgement before the next: the producer batches and pipelines.
    (`publish_to_kafka` sends chunks of 50 and waits for each chunk's acks before the next,
    so its rate is at most 50 per round trip: 360 events/s for a 1,000/s target at load 28,
    34 s behind its pace, December 2026.) Values are encoded before the clock starts. Every
    acknowledgement is awaited at the end; a failed send raises (no silent gaps)."""
    encoded = [(e, e.topic, e.key.encode(), e.value()) for e in events]
    pending: list[asyncio.Future[Any]] = []
    started = time.monotonic()
    i = 0
    while i < len(encoded):
        due = min(len(encoded), int((time.monotonic() - started) * rate) + 1)
        while i < due:
            e, topic, key, value = encoded[i]
            on_sent(e, time.time())
            pending.append(await producer.send(topic, value=value, key=key))
            i += 1
        await asyncio.sleep(TICK_S)
    await asyncio.gather(*pending)


def sent_summary(stamps: list[float], rate: float, ended: float) -> Sent:
    """`stamps`: each event's send time in the order sent; `ended`: the last acknowledgement."""
    if not stamps:
        return Sent(0, 0.0, 0.0, 0.0, os.getloadavg()[0])
    first = stamps[0]
    behind = max(at - (first + i / rate) for i, at in enumerate(stamps)) if rate > 0 else 0.0
    took = ended - first
    return Sent(
        len(stamps), round(took, 2), round(len(stamps) / took, 1) if took > 0 else 0.0,
        round(max(0.0, behind) * 1000, 1), round(os.getloadavg()[0], 2),
    )  # fmt: skip


async def measure(
    bootstrap: str, database_url: str, rate: int, seconds: float,
    meter: Callable[[], Meter] | None = None,
) -> tuple[list[Latency], Sent]:  # fmt: skip
    """The run's latencies and what was sent; `meter` starts a CPU window over the sending."""
    events = stream_for(rate, seconds, f"L{rate}X")
    sent: dict[str, float] = {}

    def on_sent(e: SimEvent, at: float) -> None:
        sent[e.event.id] = at

    producer = await _start_producer(bootstrap)
    window = meter() if meter is not None else None
    try:
        await paced_send(producer, events, rate, on_sent)
    finally:
        await producer.stop()
    generator = sent_summary(list(sent.values()), rate, time.time())
    if window is not None:
        generator.cpu = window.stop().summary(len(sent))
    ids = list(sent)
    conn = await asyncpg.connect(database_url)
    try:
        await _wait_until_settled(conn, ids)
        rows = await _effect_rows(conn, ids)
        missing = await _unfinished(conn, ids)
    finally:
        await conn.close()

    def lat(rows: list[asyncpg.Record], due: bool = False) -> list[float]:
        out = []
        for r in rows:
            start = sent[r["id"]]
            if due:
                start = max(start, r["due_at"].timestamp())
            out.append(max(0.0, r["at"].timestamp() - start))
        return out

    sms = rows["sms"]
    missing["counted"] = len(ids) - len(rows["counted"])
    results = []
    for effect, values, unfinished in (
        ("follow-up task visible", lat(rows["tasks"]), 0),
        ("SMS submitted to Kannel", lat(sms, due=True), missing["sms"]),
        # discharges come in a burst at the start of each run (the stream's hours): shown apart
        (
            "  of which discharge notices",
            lat([r for r in sms if r["template"] in NOTICES], due=True),
            0,
        ),
        # the operator's receipt back through Kannel's dlr-url, recorded (DLR 1)
        (
            "SMS delivered (receipt recorded)",
            lat(rows["delivered"], due=True),
            missing["delivered"],
        ),
        ("metrics counter moved", lat(rows["counted"]), missing["counted"]),
    ):
        results.append(
            Latency(effect, len(values), _pct(values, 0.5), _pct(values, 0.99),
                    _pct(values, 0.95), unfinished)
        )  # fmt: skip
    return results, generator


async def _unfinished(conn: asyncpg.Connection, ids: list[str]) -> dict[str, int]:
    """The run's SMS due by now but not handed to Kannel, and those handed over whose
    receipt has not come back, when the wait ended."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE submitted_at IS NULL AND status IN ('pending', 'sending')"
        "  AND send_after <= now()) AS sms,"
        " count(*) FILTER (WHERE submitted_at IS NOT NULL AND delivered_at IS NULL) AS delivered"
        " FROM notifications.messages WHERE source_event_id = ANY($1::text[]) AND channel = 'sms'",
        ids,
    )
    return {"sms": int(row["sms"]), "delivered": int(row["delivered"])}


async def _wait_for(conn: asyncpg.Connection, sql: str, ids: list[str], done: int) -> None:
    """Poll `sql` (a count over the run's events) until it is `done`, for two minutes at most."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if await conn.fetchval(sql, ids) == done:
            return
        await asyncio.sleep(1)


async def _wait_until_settled(conn: asyncpg.Connection, ids: list[str]) -> None:
    """Until the last consumer has seen everything, every SMS due by now has been submitted
    to Kannel (they go out from the dispatcher's own queue) and its receipt has come back."""
    await _wait_for(
        conn, "SELECT count(*) FROM metrics.inbox WHERE event_id = ANY($1::text[])", ids, len(ids)
    )
    await _wait_for(
        conn,
        "SELECT count(*) FROM notifications.messages WHERE source_event_id = ANY($1::text[])"
        " AND channel = 'sms' AND status IN ('pending', 'sending') AND send_after <= now()",
        ids,
        0,
    )
    await _wait_for(
        conn,
        "SELECT count(*) FROM notifications.messages WHERE source_event_id = ANY($1::text[])"
        " AND channel = 'sms' AND status = 'submitted'",
        ids,
        0,
    )


async def _effect_rows(conn: asyncpg.Connection, ids: list[str]) -> dict[str, list[asyncpg.Record]]:
    sms_rows = (
        " FROM notifications.messages WHERE source_event_id = ANY($1::text[]) AND channel = 'sms'"
    )
    return {
        "tasks": await conn.fetch(
            "SELECT source_event_id AS id, created_at AS at FROM followup.follow_up_tasks"
            " WHERE source_event_id = ANY($1::text[])",
            ids,
        ),
        "sms": await conn.fetch(
            "SELECT source_event_id AS id, submitted_at AS at, due_at, template"
            + sms_rows
            + " AND submitted_at IS NOT NULL",
            ids,
        ),
        "delivered": await conn.fetch(
            "SELECT source_event_id AS id, delivered_at AS at, due_at"
            + sms_rows
            + " AND delivered_at IS NOT NULL",
            ids,
        ),
        "counted": await conn.fetch(
            "SELECT event_id AS id, processed_at AS at FROM metrics.inbox"
            " WHERE event_id = ANY($1::text[])",
            ids,
        ),
    }
