"""Steady latency: with every service running, publish at a fixed rate and measure, per
input event, the time from its send to its effects: the follow-up task committed (what the
API shows), the SMS submitted to Kannel (Kannel accepted it; from when it was due) and its
delivery receipt recorded (the operator's receipt back through Kannel), the metrics counter
moved. The operator is the stack's (DEVSTACK_SMSC): fakesmsc, or the SMPP simulator."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import asyncpg

from simulator.hospital import Rates
from simulator.publish import publish_to_kafka
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


async def measure(bootstrap: str, database_url: str, rate: int, seconds: float) -> list[Latency]:
    events = stream_for(rate, seconds, f"L{rate}X")
    sent: dict[str, float] = {}

    def on_sent(e: SimEvent, at: float) -> None:
        sent[e.event.id] = at

    await publish_to_kafka(bootstrap, events, rate=rate, on_sent=on_sent)
    ids = list(sent)
    conn = await asyncpg.connect(database_url)
    try:
        await _wait_until_settled(conn, ids)
        rows = await _effect_rows(conn, ids)
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
    results = []
    for effect, values in (
        ("follow-up task visible", lat(rows["tasks"])),
        ("SMS submitted to Kannel", lat(sms, due=True)),
        # discharges come in a burst at the start of each run (the stream's hours): shown apart
        (
            "  of which discharge notices",
            lat([r for r in sms if r["template"] in NOTICES], due=True),
        ),
        # the operator's receipt back through Kannel's dlr-url, recorded (DLR 1)
        ("SMS delivered (receipt recorded)", lat(rows["delivered"], due=True)),
        ("metrics counter moved", lat(rows["counted"])),
    ):
        results.append(Latency(effect, len(values), _pct(values, 0.5), _pct(values, 0.99)))
    return results


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
