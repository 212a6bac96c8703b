"""The scaling and latency benches' arithmetic: the machine's busy share from /proc/stat, the
CPU figures of a window, and what the latency generator really sent (no stack needed)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench import latency
from bench.cpu_window import Window
from bench.latency import paced_send, sent_summary, stream_for
from bench.stack import Proc, bench_config, busy_share, machine_cpu_ticks
from hospital_shared.publishing import partition_of
from simulator.stream import SimEvent

STAT = "cpu  100 5 50 800 40 3 2 0 7 0\ncpu0 50 2 25 400 20 1 1 0 0 0\n"


def test_busy_ticks_leave_out_idle_and_iowait_and_count_guest_once() -> None:
    # user 100 nice 5 system 50 idle 800 iowait 40 irq 3 softirq 2 steal 0 (guest 7 is in user)
    assert machine_cpu_ticks(STAT) == (160, 1000)


def test_busy_share_is_of_the_window_only() -> None:
    assert busy_share((160, 1000), (310, 1200)) == pytest.approx(0.75)
    assert busy_share((160, 1000), (160, 1000)) == 0.0


def test_live_proc_stat_reads() -> None:
    busy, total = machine_cpu_ticks()
    assert 0 <= busy <= total


def test_window_summary_gives_cores_per_event_and_what_others_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    w = Window(10.0, 0.9, {"service": 0.5, "postgres": 0.3, "kafka": 0.4})
    s = w.summary(5000)
    assert s["events_per_s"] == 500
    assert s["machine_busy_cores"] == pytest.approx(1.8)
    assert s["other_cores"] == pytest.approx(0.6)  # 1.8 busy - 1.2 the measured processes
    assert s["cpu_ms_per_event"]["service"] == pytest.approx(1.0)  # 5 CPU s / 5,000 events


def test_generator_that_kept_its_pace() -> None:
    stamps = [100.0 + i / 1000 for i in range(1000)]
    s = sent_summary(stamps, 1000, 101.0)
    assert s.events == 1000 and s.per_s == pytest.approx(1000.0)
    assert s.behind_schedule_max_ms == pytest.approx(0.0, abs=0.01)


def test_generator_that_fell_behind_says_its_real_rate_and_lag() -> None:
    # 1,000 events meant for one second went out over two: the last half a second late
    stamps = [100.0 + 2 * i / 1000 for i in range(1000)]
    s = sent_summary(stamps, 1000, 102.0)
    assert s.per_s == pytest.approx(500.0)
    assert s.behind_schedule_max_ms == pytest.approx(999.0, abs=1)


def test_instances_have_their_own_labels() -> None:
    cfg = bench_config()
    labels = [Proc(cfg, "followup", port_shift=100 * i).label for i in range(3)]
    assert labels == ["followup", "followup#2", "followup#3"]


class FakeBatch:
    def __init__(self, room: int) -> None:
        self.room = room
        self.records: list[tuple[bytes, bytes]] = []

    def append(self, *, key: bytes, value: bytes, timestamp: None) -> object | None:
        if len(self.records) == self.room:
            return None  # full, as aiokafka's BatchBuilder answers
        self.records.append((key, value))
        return object()


class FakeProducer:
    """Acknowledges nothing until the sender has handed over every event: a sender that
    waited for a batch's acknowledgement before the next would hang here. Its batches take
    `room` events (aiokafka's hold up to 256 KB)."""

    def __init__(self, total: int, fail_at: int | None = None, room: int = 1000) -> None:
        self.total, self.fail_at, self.room = total, fail_at, room
        self.sent: list[tuple[str, int, bytes]] = []  # topic, partition, key in sending order
        self.acks: list[asyncio.Future[None]] = []

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.room)

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2, 3, 4, 5}

    async def send_batch(
        self, batch: FakeBatch, topic: str, *, partition: int
    ) -> asyncio.Future[None]:
        failing = any(len(self.sent) + n == self.fail_at for n in range(len(batch.records)))
        self.sent += [(topic, partition, key) for key, _ in batch.records]
        ack = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        if failing:
            ack.set_exception(RuntimeError("broker refused"))
        if len(self.sent) == self.total:
            for other in self.acks:
                if not other.done():
                    other.set_result(None)
        return ack


def _events(n: int) -> list[SimEvent]:
    return stream_for(200, n / 200, "T")[:n]


def test_paced_send_does_not_wait_for_acks_between_events_and_stamps_each() -> None:
    events = _events(300)
    producer = FakeProducer(len(events), room=3)
    stamped: list[tuple[str, float]] = []
    acked: list[float] = []
    asyncio.run(
        paced_send(
            producer,
            events,
            20_000,
            lambda e, at: stamped.append((e.event.id, at)),
            lambda e, at: acked.append(at),
        )
    )
    assert [i for i, _ in stamped] == [e.event.id for e in events]
    assert len(acked) == len(events)  # every acknowledgement seen
    assert all(a <= b for (_, a), (_, b) in itertools.pairwise(stamped))
    # each key on the partition the default partitioner gives it, in the events' order there
    # (a patient's events keep their order); batches of 3 make several a wake
    assert sorted(producer.sent) == sorted(
        (e.topic, partition_of([0, 1, 2, 3, 4, 5], e.key.encode()), e.key.encode()) for e in events
    )
    for topic, partition in {(t, p) for t, p, _ in producer.sent}:
        keys = [k for t, p, k in producer.sent if (t, p) == (topic, partition)]
        expected = [
            e.key.encode()
            for e in events
            if e.topic == topic and partition_of([0, 1, 2, 3, 4, 5], e.key.encode()) == partition
        ]
        assert keys == expected


def test_paced_send_raises_when_a_send_failed() -> None:
    events = _events(50)
    with pytest.raises(RuntimeError, match="broker refused"):
        asyncio.run(
            paced_send(FakeProducer(len(events), fail_at=7), events, 20_000, lambda e, at: None)
        )


class Counts:
    """A connection whose count goes through `values`, then stays at the last."""

    def __init__(self, *values: int) -> None:
        self.values = list(values)

    async def fetchval(self, sql: str, ids: list[str]) -> int:
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


def test_the_wait_follows_a_count_that_keeps_moving(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(latency, "STALL_S", 1.5)  # longer than one poll, shorter than four
    conn = Counts(9, 7, 5, 3, 0)
    asyncio.run(latency._wait_for(conn, "", [], 0))  # type: ignore[arg-type]
    assert conn.values == [0]


def test_the_wait_gives_up_on_a_count_that_stands_still(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(latency, "STALL_S", 1.5)
    conn = Counts(4)
    asyncio.run(latency._wait_for(conn, "", [], 0))  # type: ignore[arg-type]
    assert conn.values == [4]


def test_an_sms_due_at_once_counts_from_the_event_one_due_later_from_its_due_time() -> None:
    t0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    sent = {"a": t0.timestamp(), "b": t0.timestamp()}
    rows: list[Any] = [
        # planned 30 s after the event, due at once (due_at = the planning moment)
        {"id": "a", "created_at": t0 + timedelta(seconds=30), "due_at": t0 + timedelta(seconds=30),
         "at": t0 + timedelta(seconds=40)},
        # planned 30 s after the event, due an hour after it
        {"id": "b", "created_at": t0 + timedelta(seconds=30), "due_at": t0 + timedelta(hours=1),
         "at": t0 + timedelta(hours=1, seconds=2)},
    ]  # fmt: skip
    a = latency._latency("sms", rows[:1], sent, sent, True, 0)
    b = latency._latency("sms", rows[1:], sent, sent, True, 0)
    assert a.p50_ms == pytest.approx(40_000)  # the consumer's 30 s included
    assert b.p50_ms == pytest.approx(2_000)
