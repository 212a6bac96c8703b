"""An idle consumer's poll: FastStream's batch subscriber waits `batch_timeout_ms` for records
and, when none came, sleeps as long again before the next poll. Its default (200 ms) let an
event that arrived during that sleep wait up to 400 ms before it was even read."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from hospital_shared.runtime import ServiceRuntime, linger_after, records_waiting
from hospital_shared.settings import service_settings_class

Settings = service_settings_class("probe", 8999)


async def _nothing(conn: Any, event: Any) -> None:
    return None


def _poll_ms_of_subscribers(runtime: ServiceRuntime) -> list[int]:
    return [s.batch_timeout_ms for s in runtime.broker.subscribers]  # type: ignore[attr-defined]


def test_every_consumer_polls_with_the_configured_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBE_CONSUMER_POLL_MS", "35")
    runtime = ServiceRuntime(Settings(), migrations=Path("."))
    runtime.consume("hospital.registrations.v1", handler_name="a", handle=_nothing)
    runtime.consume("hospital.discharges.v1", handler_name="b", handle=_nothing)
    assert _poll_ms_of_subscribers(runtime) == [35, 35]


def test_the_default_wait_is_well_under_fast_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROBE_CONSUMER_POLL_MS", raising=False)
    runtime = ServiceRuntime(Settings(), migrations=Path("."))
    runtime.consume("hospital.registrations.v1", handler_name="a", handle=_nothing)
    assert _poll_ms_of_subscribers(runtime) == [20]


def test_a_poll_wait_of_zero_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 0 would make an idle consumer spin on its poll.
    monkeypatch.setenv("PROBE_CONSUMER_POLL_MS", "0")
    with pytest.raises(ValueError, match="consumer_poll_ms"):
        Settings()


def test_every_consumer_takes_batches_of_the_configured_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`<SERVICE>_CONSUMER_MAX_RECORDS` bounds each consumer's batch (notifications lowers it
    to bound its memory); unset, batches hold up to 2,000 events."""
    monkeypatch.delenv("PROBE_CONSUMER_MAX_RECORDS", raising=False)
    runtime = ServiceRuntime(Settings(), migrations=Path("."))
    runtime.consume("hospital.registrations.v1", handler_name="a", handle=_nothing)
    monkeypatch.setenv("PROBE_CONSUMER_MAX_RECORDS", "300")
    smaller = ServiceRuntime(Settings(), migrations=Path("."))
    smaller.consume("hospital.registrations.v1", handler_name="a", handle=_nothing)
    smaller.consume("hospital.discharges.v1", handler_name="b", handle=_nothing)
    sizes = [s.max_records for s in runtime.broker.subscribers + smaller.broker.subscribers]  # type: ignore[attr-defined]
    assert sizes == [2000, 300, 300]


def test_metrics_one_consumer_takes_whole_batches_in_two_transactions() -> None:
    """Release 0.14's nine consumers took 500 events each; the one consumer since takes the
    default 2,000, split in two by partition (settings.py)."""
    from metrics.settings import Settings as MetricsSettings

    settings = MetricsSettings()
    assert (settings.consumer_max_records, settings.consumer_concurrency) == (2000, 2)


def test_a_consumer_lingers_after_a_small_batch_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A steady stream taken a record or two at a time costs a batch's fixed work per record
    (issue 22): after a small batch the consumer waits `consumer_linger_ms` so that the next
    holds what came meanwhile. A backlog's big batches never wait; 0 turns it off."""
    monkeypatch.setenv("PROBE_CONSUMER_LINGER_MS", "25")
    monkeypatch.setenv("PROBE_CONSUMER_LINGER_RECORDS", "100")
    settings = Settings()
    assert linger_after(1, 2000, settings) == 0.025
    assert linger_after(99, 2000, settings) == 0.025
    assert linger_after(100, 2000, settings) == 0.0
    assert linger_after(2000, 2000, settings) == 0.0
    # a consumer whose batches hold at most 50: a full one means a backlog, it never waits
    assert linger_after(50, 50, settings) == 0.0
    assert linger_after(49, 50, settings) == 0.025
    monkeypatch.setenv("PROBE_CONSUMER_LINGER_MS", "0")
    assert linger_after(1, 2000, Settings()) == 0.0


class Consumer:
    """What `records_waiting` reads of aiokafka's consumer: its partitions, the high-water
    mark of each from the last fetch (None before one), and its position in each."""

    def __init__(self, partitions: dict[str, tuple[int | None, int]]) -> None:
        self.partitions = partitions

    def assignment(self) -> set[str]:
        return set(self.partitions)

    def highwater(self, tp: str) -> int | None:
        return self.partitions[tp][0]

    async def position(self, tp: str) -> int:
        return self.partitions[tp][1]


async def test_a_small_batch_in_a_backlog_is_followed_at_once() -> None:
    """The rest of one partition's fetch makes a small batch in a backlog too; the linger
    waits only when the consumer has taken (nearly) all the broker holds."""
    backlog = Consumer({"a": (5000, 1200), "b": (900, 900)})
    assert await records_waiting(backlog, 100)
    spread = Consumer({"a": (1060, 1000), "b": (2050, 2000), "c": (None, 0)})
    assert await records_waiting(spread, 100)  # 60 + 50 across partitions
    caught_up = Consumer({"a": (1010, 1000), "b": (2000, 2000), "c": (None, 0)})
    assert not await records_waiting(caught_up, 100)
    assert not await records_waiting(Consumer({}), 100)


def test_fast_streams_line_per_batch_is_debug_only() -> None:
    """FastStream logged "Received" and "Processed" for every batch of every consumer at INFO:
    32,000 plain-text lines from metrics in one 20-second bench run (issue 22)."""
    runtime = ServiceRuntime(Settings(), migrations=Path("."))
    assert runtime.broker.config.logger.log_level == logging.DEBUG


def test_a_batch_is_split_only_from_the_linger_size_or_a_whole_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each consumer splits by partition only a batch of `consumer_linger_records` events or
    more, or a whole batch where batches are smaller than that."""
    monkeypatch.delenv("PROBE_CONSUMER_MAX_RECORDS", raising=False)
    runtime = ServiceRuntime(Settings(), migrations=Path("."))
    runtime.consume("hospital.registrations.v1", handler_name="a", handle=_nothing)
    runtime.consume("hospital.discharges.v1", handler_name="b", handle=_nothing, max_records=40)
    assert [c.split_from for c in runtime.consumers] == [100, 40]


def _fetch_of_subscribers(runtime: ServiceRuntime) -> dict[str, tuple[int, int]]:
    """Each consumer's (fetch_min_bytes, fetch_max_wait_ms), by its first topic."""
    found: dict[str, tuple[int, int]] = {}
    for s in runtime.broker.subscribers:
        args = s._connection_args  # type: ignore[attr-defined]
        found[s.topics[0].name] = (args["fetch_min_bytes"], args["fetch_max_wait_ms"])  # type: ignore[attr-defined]
    return found


def test_only_a_consumer_with_a_fetch_wait_lets_the_broker_hold_its_fetches() -> None:
    """A consumer whose events may wait (complaints' merges among the registrations) is
    answered once the broker has 64 KiB for it or the wait has passed; every other consumer
    as soon as a record is there (aiokafka's defaults: 1 byte, at most 500 ms when idle)."""
    runtime = ServiceRuntime(Settings(), migrations=Path("."))
    runtime.consume("hospital.discharges.v1", handler_name="a", handle=_nothing)
    runtime.consume(
        "hospital.registrations.v1", handler_name="b", handle=_nothing, fetch_wait_ms=200
    )
    runtime.consume("hospital.complaints.v1", handler_name="c", handle=_nothing)
    assert _fetch_of_subscribers(runtime) == {
        "hospital.discharges.v1": (1, 500),
        "hospital.registrations.v1": (64 * 1024, 200),
        "hospital.complaints.v1": (1, 500),
    }


def test_complaints_reads_only_the_registrations_with_a_fetch_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Complaints reads every registration only for the merges among them (issue 22): those
    fetches may wait `COMPLAINTS_MERGES_FETCH_WAIT_MS` (200 ms); the complaints themselves, the
    roster and the survey answers are fetched at once. 0 turns the wait off."""
    from complaints.app import create_app
    from complaints.settings import Settings as ComplaintsSettings

    def fetches(**over: int) -> dict[str, tuple[int, int]]:
        app = create_app(ComplaintsSettings(**over))
        return _fetch_of_subscribers(app.state.runtime)

    waits = {topic: wait for topic, (_, wait) in fetches().items()}
    assert waits.pop("hospital.registrations.v1") == 200
    assert set(waits.values()) == {500}, waits
    assert fetches(merges_fetch_wait_ms=0)["hospital.registrations.v1"] == (1, 500)
