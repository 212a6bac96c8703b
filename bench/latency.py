"""Steady latency: with every service running, publish at a fixed rate and measure, per
input event, the time from its send to its effects: the follow-up task committed (what the
API shows), the SMS submitted to Kannel (Kannel accepted it; from when it was due) and its
delivery receipt recorded (the operator's receipt back through Kannel), the metrics counter
moved. The operator is the stack's (DEVSTACK_SMSC): fakesmsc, or the SMPP simulator."""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import asyncpg

from bench.cpu_window import Meter
from hospital_shared.publishing import partition_of
from simulator.hospital import Rates
from simulator.publish import _start_producer
from simulator.stream import SimConfig, SimEvent, generate

# Every SMS an input event causes (reminders, discharge notices, complaint acknowledgements,
# staff texts): at 200 events/s the discharge notices alone were ~115 in 30 s, so their p99
# was the second-worst value.
NOTICES = ("discharge_care_notice", "discharge_safety_notice")
# An SMS whose due time is at most this after its row was made was due at once (as
# notifications' dispatcher tells them apart).
IMMEDIATE = timedelta(seconds=1)


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
    # the same from the broker's acknowledgement of the input event (acks=all), without the
    # generator's own producer queue (a Python process on a starved CPU too)
    p50_from_ack_ms: float = float("nan")
    p95_from_ack_ms: float = float("nan")
    p99_from_ack_ms: float = float("nan")


@dataclass
class Sent:
    """What the generator really did: its rate is the target only if it kept its pace. Each
    event's latency starts when its chunk was handed to the producer (not when it was
    scheduled), so the generator's own lag is not counted in the latencies; it is shown here."""

    events: int
    seconds: float  # from the first chunk's send to the last chunk's acknowledgement
    per_s: float
    behind_schedule_max_ms: float  # the latest an event went out against its scheduled time
    load_average_1m: float  # at the end of the sending
    # from handing an event to the producer to the broker's acknowledgement (acks=all): the
    # producer's own queue and Kafka's, inside every latency below (None: not measured)
    ack_p50_ms: float | None = None
    ack_p99_ms: float | None = None
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
    def create_batch(self) -> Any: ...

    async def send_batch(
        self, batch: Any, topic: str, *, partition: int
    ) -> asyncio.Future[Any]: ...

    async def partitions_for(self, topic: str) -> set[int]: ...


async def paced_send(
    producer: Producer, events: list[SimEvent], rate: float,
    on_sent: Callable[[SimEvent, float], None],
    on_acked: Callable[[SimEvent, float], None] | None = None,
) -> None:  # fmt: skip
    """Send `events` at `rate`, each stamped when it is handed to the producer, without
    waiting for a batch's acknowledgement before the next: the producer pipelines.
    (`publish_to_kafka` sends chunks of 50 and waits for each chunk's acks before the next,
    so its rate is at most 50 per round trip: 360 events/s for a 1,000/s target at load 28,
    34 s behind its pace, December 2026.) Values are encoded and partitioned before the clock
    starts. What falls due at each wake goes as one batch per partition, as the services'
    outbox relays send (hospital_shared.publishing): one `send` an event cost this process
    0.13-0.15 of the machine's two cores at 1,000 events/s, CPU the services then lacked
    (docs/bench.md, session 23). Every acknowledgement is awaited at the end; a failed send
    raises (no silent gaps)."""
    partitions = {t: sorted(await producer.partitions_for(t)) for t in {e.topic for e in events}}
    encoded = [
        (e, e.topic, partition_of(partitions[e.topic], key), key, e.value())
        for e in events
        for key in (e.key.encode(),)
    ]
    pending: list[asyncio.Future[Any]] = []
    started = time.monotonic()
    i = 0
    while i < len(encoded):
        due = min(len(encoded), int((time.monotonic() - started) * rate) + 1)
        if i < due:
            at = time.time()
            for e, *_ in encoded[i:due]:
                on_sent(e, at)
            for (topic, partition), batch, those in _batches(producer, encoded[i:due]):
                ack = await producer.send_batch(batch, topic, partition=partition)
                if on_acked is not None:  # the broker's acknowledgement (acks=all), when it comes
                    ack.add_done_callback(functools.partial(_stamp_acks, on_acked, those))
                pending.append(ack)
            i = due
        await asyncio.sleep(TICK_S)
    await asyncio.gather(*pending)


def _batches(
    producer: Producer, due: list[tuple[SimEvent, str, int, bytes, bytes]]
) -> list[tuple[tuple[str, int], Any, list[SimEvent]]]:
    """`due` in batches by partition, each partition's events in their order (a full batch is
    followed by another)."""
    out: list[tuple[tuple[str, int], Any, list[SimEvent]]] = []
    open_: dict[tuple[str, int], tuple[Any, list[SimEvent]]] = {}
    for e, topic, partition, key, value in due:
        where = (topic, partition)
        batch = open_[where][0] if where in open_ else None
        # the partition's first event, or its batch is full (append answers None)
        if batch is None or batch.append(key=key, value=value, timestamp=None) is None:
            batch = producer.create_batch()
            batch.append(key=key, value=value, timestamp=None)  # a new batch takes any
            open_[where] = (batch, [])
            out.append((where, batch, open_[where][1]))
        open_[where][1].append(e)
    return out


def _stamp_acks(
    on_acked: Callable[[SimEvent, float], None], those: list[SimEvent], _: asyncio.Future[Any]
) -> None:
    at = time.time()
    for e in those:
        on_acked(e, at)


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
    sent, acked, generator = await _send(bootstrap, events, rate, meter)
    ids = list(sent)
    conn = await asyncpg.connect(database_url)
    try:
        await _wait_until_settled(conn, ids)
        rows = await _effect_rows(conn, ids)
        missing = await _unfinished(conn, ids)
    finally:
        await conn.close()
    missing["counted"] = len(ids) - len(rows["counted"])
    sms = rows["sms"]
    notices = [r for r in sms if r["template"] in NOTICES]
    return [
        _latency("follow-up task visible", rows["tasks"], sent, acked, False, 0),
        _latency("SMS submitted to Kannel", sms, sent, acked, True, missing["sms"]),
        # discharges come in a burst at the start of each run (the stream's hours): shown apart
        _latency("  of which discharge notices", notices, sent, acked, True, 0),
        # the same SMS when notifications' consumer planned them (the row's created_at, its
        # transaction's start): the consumer's share of the SMS's time, the rest the hand-over's
        _latency("  planned by the consumer", planned(sms), sent, acked, False, 0),
        # the operator's receipt back through Kannel's dlr-url, recorded (DLR 1)
        _latency("SMS delivered (receipt recorded)", rows["delivered"], sent, acked, True,
                 missing["delivered"]),
        _latency("metrics counter moved", rows["counted"], sent, acked, False, missing["counted"]),
    ], generator  # fmt: skip


async def _send(
    bootstrap: str, events: list[SimEvent], rate: int, meter: Callable[[], Meter] | None
) -> tuple[dict[str, float], dict[str, float], Sent]:
    """Each event's hand-over and acknowledgement times (by id), and what was sent."""
    sent: dict[str, float] = {}
    acked: dict[str, float] = {}

    def on_sent(e: SimEvent, at: float) -> None:
        sent[e.event.id] = at

    def on_acked(e: SimEvent, at: float) -> None:
        acked[e.event.id] = at

    producer = await _start_producer(bootstrap)
    window = meter() if meter is not None else None
    try:
        await paced_send(producer, events, rate, on_sent, on_acked)
        generator = sent_summary(list(sent.values()), rate, max(acked.values(), default=0.0))
    finally:
        await producer.stop()
    lags = [acked[i] - sent[i] for i in sent if i in acked]
    generator.ack_p50_ms, generator.ack_p99_ms = _pct(lags, 0.5), _pct(lags, 0.99)
    if window is not None:
        generator.cpu = window.stop().summary(len(sent))
    return sent, acked, generator


def planned(sms: list[asyncpg.Record]) -> list[dict[str, Any]]:
    """Each submitted SMS at the moment its row was made."""
    return [{"id": r["id"], "at": r["created_at"]} for r in sms]


def _latency(
    effect: str, rows: Sequence[Mapping[str, Any]], sent: dict[str, float],
    acked: dict[str, float], due: bool, unfinished: int,
) -> Latency:  # fmt: skip
    """Percentiles of the time from each event's hand-over to its effect (an SMS: from when
    it was due, if later), and the same from the broker's acknowledgement of the event. An
    SMS due as soon as it was planned has `due_at` = the planning moment (a reminder whose
    time has passed: `max(reminder time, now)`), which would leave the consumer's own delay
    out: it counts from the event (the dispatcher's test of "due at once", `IMMEDIATE`)."""

    def lat(starts: dict[str, float]) -> list[float]:
        out = []
        for r in rows:
            start = starts[r["id"]]
            if due and r["due_at"] > r["created_at"] + IMMEDIATE:
                start = max(start, r["due_at"].timestamp())
            out.append(max(0.0, r["at"].timestamp() - start))
        return out

    values, from_ack = lat(sent), lat(acked)
    return Latency(
        effect, len(values), _pct(values, 0.5), _pct(values, 0.99), _pct(values, 0.95),
        unfinished, _pct(from_ack, 0.5), _pct(from_ack, 0.95), _pct(from_ack, 0.99),
    )  # fmt: skip


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


# How long a count may stand still before the wait gives up, and the most it waits at all.
STALL_S, WAIT_CAP_S = 30.0, 600.0


async def _wait_for(conn: asyncpg.Connection, sql: str, ids: list[str], done: int) -> None:
    """Poll `sql` (a count over the run's events) until it is `done`, while it keeps moving:
    it gives up after STALL_S without a change, or WAIT_CAP_S in all. (A fixed two minutes
    cut the SMS off while the dispatcher was still handing them over: at 1,000 events/s 2,474
    of 4,570 were left out of the percentiles.) What is left is counted as unfinished."""
    started = moved = time.monotonic()
    last = None
    while time.monotonic() - moved < STALL_S and time.monotonic() - started < WAIT_CAP_S:
        n = await conn.fetchval(sql, ids)
        if n == done:
            return
        if n != last:
            last, moved = n, time.monotonic()
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
            "SELECT source_event_id AS id, submitted_at AS at, due_at, created_at, template"
            + sms_rows
            + " AND submitted_at IS NOT NULL",
            ids,
        ),
        "delivered": await conn.fetch(
            "SELECT source_event_id AS id, delivered_at AS at, due_at, created_at"
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
