"""The next batch is fetched and decoded while the one before it is in the database
(`consumer_decode_ahead`, runtime.py), on the real Kafka and PostgreSQL: one batch ahead at
most, batches still handled one after another and in order, and a stop waits for the batch
in the database and commits its offsets."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from hospital_shared import runtime as runtime_module
from hospital_shared.consumer import ReliableConsumer
from hospital_shared.runtime import ServiceRuntime
from hospital_shared.settings import service_settings_class
from tests import factories
from tests.kafka_tools import committed_past, eventually, publish

Settings = service_settings_class("probe", 8999)
TOPIC = "hospital.registrations.v1"
BATCH = 5


class _Probe:
    """A runtime consuming `TOPIC` in batches of `BATCH`, whose handler holds the batch with
    the first of `hold` until `release` is set, and which counts what its consumer decodes."""

    def __init__(
        self, stack_env: dict[str, str], monkeypatch: Any, tmp_path: Path, hold: list[str]
    ) -> None:
        for name in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"):
            monkeypatch.setenv(name, stack_env[name])
        group = f"probe-ahead-{uuid.uuid4().hex[:8]}"
        self.group = f"{group}.ahead"  # the runtime names it after the handler
        monkeypatch.setenv("ENV", "test")
        monkeypatch.setenv("PROBE_CONSUMER_GROUP", group)
        monkeypatch.setenv("PROBE_CONSUMER_MAX_RECORDS", str(BATCH))
        monkeypatch.setenv("PROBE_CONSUMER_LINGER_MS", "0")
        self.runtime = ServiceRuntime(Settings(), migrations=tmp_path)
        self.hold = set(hold)
        self.holding = asyncio.Event()  # the held batch is in its transaction
        self.release = asyncio.Event()
        self.handled: list[str] = []  # event ids, in the order handled
        self.batches = 0
        self.decoded = 0
        self.runtime.consume(
            TOPIC, handler_name="ahead", handle=self._handle, handle_batch=self._handle_batch
        )
        consumer: ReliableConsumer = self.runtime._groups[-1].consumer
        decode = consumer.decode

        def counting(record: Any) -> Any:
            self.decoded += 1
            return decode(record)

        consumer.decode = counting  # type: ignore[method-assign]
        process = consumer.process_decoded
        self.started = 0  # records of the batches whose handling has begun

        async def starting(received: Any) -> None:
            self.started += len(received)
            await process(received)

        consumer.process_decoded = starting  # type: ignore[method-assign]

    async def _handle_batch(self, conn: Any, events: Any) -> None:
        self.batches += 1
        if not self.holding.is_set() and self.hold & {e.id for e in events}:
            self.holding.set()
            await self.release.wait()
        self.handled.extend(e.id for e in events)

    async def _handle(self, conn: Any, event: Any) -> None:
        await self._handle_batch(conn, [event])


async def _publish_mine(stack_env: dict[str, str], n: int) -> tuple[list[str], Any]:
    """`n` registrations of one patient (one partition, in this order): their ids, and where
    the last one went."""
    events = [
        factories.registration(991_000 + i, patient=factories.patient(991_000)) for i in range(n)
    ]
    sent = await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        TOPIC,
        [(e["subject"], factories.to_bytes(e)) for e in events],
    )
    return [e["id"] for e in events], sent[-1]


async def _released_then_all_handled_in_order(
    probe: _Probe, stack_env: dict[str, str], mine: list[str], last: Any
) -> None:
    """Release the held batch: every one of `mine` is then handled once, in its order, and
    the group commits past the last."""
    probe.release.set()
    await eventually(lambda: set(mine) <= set(probe.handled), timeout=60)
    assert [i for i in probe.handled if i in set(mine)] == mine
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    await eventually(lambda: committed_past(bootstrap, probe.group, last), timeout=30)


@pytest.mark.stack
async def test_the_next_batch_is_decoded_beside_the_one_in_the_database(
    stack_env: dict[str, str], monkeypatch: Any, tmp_path: Path
) -> None:
    mine, last = await _publish_mine(stack_env, 4 * BATCH)
    probe = _Probe(stack_env, monkeypatch, tmp_path, hold=mine)
    await probe.runtime.start()
    try:
        await asyncio.wait_for(probe.holding.wait(), timeout=60)
        batches, started = probe.batches, probe.started
        # the next batch is decoded while the held one is in its transaction
        await eventually(lambda: probe.decoded > started, timeout=30)
        await asyncio.sleep(0.5)
        assert (probe.batches, probe.started) == (batches, started)  # not handled meanwhile
        assert started < probe.decoded <= started + BATCH  # one batch ahead, no more
        await _released_then_all_handled_in_order(probe, stack_env, mine, last)
    finally:
        probe.release.set()
        await probe.runtime.stop()


@pytest.mark.stack
async def test_a_batch_slower_than_a_stop_waits_is_waited_for_while_running(
    stack_env: dict[str, str], monkeypatch: Any, tmp_path: Path
) -> None:
    """Only a stop gives up on a batch: running, the next batch waits for the one in the
    database however long it takes (the database away), and is not handled past it."""
    monkeypatch.setattr(runtime_module, "STOP_SETTLE_S", 0.5)
    mine, last = await _publish_mine(stack_env, 3 * BATCH)
    probe = _Probe(stack_env, monkeypatch, tmp_path, hold=mine)
    await probe.runtime.start()
    try:
        await asyncio.wait_for(probe.holding.wait(), timeout=60)
        await asyncio.sleep(2.0)
        await _released_then_all_handled_in_order(probe, stack_env, mine, last)
    finally:
        probe.release.set()
        await probe.runtime.stop()


@pytest.mark.stack
async def test_a_stop_waits_for_the_batch_in_the_database_and_commits_it(
    stack_env: dict[str, str], monkeypatch: Any, tmp_path: Path
) -> None:
    """A batch fetched while the stop waits is handled after the one in the database, never
    beside it (same patient: one partition, in order)."""
    first, _ = await _publish_mine(stack_env, 1)
    probe = _Probe(stack_env, monkeypatch, tmp_path, hold=first)
    await probe.runtime.start()
    stopped = False
    try:
        await asyncio.wait_for(probe.holding.wait(), timeout=60)
        stopping = asyncio.create_task(probe.runtime.stop())
        await asyncio.sleep(0.3)
        second, last = await _publish_mine(stack_env, 1)
        await asyncio.sleep(2.0)
        assert not stopping.done()  # it waits for the batch in the database
        assert second[0] not in probe.handled  # not beside the one in the database
        probe.release.set()
        await asyncio.wait_for(stopping, timeout=60)
        stopped = True
        ours = [i for i in probe.handled if i in {first[0], second[0]}]
        assert ours in ([first[0]], [first[0], second[0]])
        bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
        assert await committed_past(bootstrap, probe.group, last) == (second[0] in ours)
    finally:
        probe.release.set()
        if not stopped:
            await probe.runtime.stop()


@pytest.mark.stack
async def test_a_stop_cancels_a_batch_that_stays_in_the_database(
    stack_env: dict[str, str], monkeypatch: Any, tmp_path: Path
) -> None:
    """The database away at a stop (here: a handler that never returns) does not hold the
    stop: past `STOP_SETTLE_S` the batch is cancelled, and neither its offsets nor a later
    batch's are committed (the records are fetched again at the next start)."""
    monkeypatch.setattr(runtime_module, "STOP_SETTLE_S", 2.0)
    first, first_at = await _publish_mine(stack_env, 1)
    probe = _Probe(stack_env, monkeypatch, tmp_path, hold=first)
    await probe.runtime.start()
    await asyncio.wait_for(probe.holding.wait(), timeout=60)
    stopping = asyncio.create_task(probe.runtime.stop())
    await asyncio.sleep(0.3)
    second, second_at = await _publish_mine(stack_env, 1)
    await asyncio.wait_for(stopping, timeout=30)
    assert first[0] not in probe.handled and second[0] not in probe.handled
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    assert not await committed_past(bootstrap, probe.group, first_at)
    assert not await committed_past(bootstrap, probe.group, second_at)
