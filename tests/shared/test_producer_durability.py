"""Every producer of a service waits for all in-sync replicas and is idempotent: on a
three-broker cluster (topics with min.insync.replicas=2) a broker killed mid-stream then
loses no record and doubles none (tests/chaos, the cluster case)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hospital_shared.runtime import ServiceRuntime
from hospital_shared.settings import service_settings_class

Settings = service_settings_class("probe", 8999)


async def test_the_outbox_producer_waits_for_all_replicas() -> None:
    producer = ServiceRuntime(Settings(), migrations=Path(".")).make_producer()
    try:
        assert producer._sender._acks == -1  # "all"
        assert producer._txn_manager is not None  # idempotence on
    finally:
        await producer.stop()


async def test_the_dead_letter_producer_waits_for_all_replicas_without_idempotence() -> None:
    """Not idempotent: a dead letter the broker refuses must not poison the partition's
    sequence numbers (runtime.make_dead_letter_producer)."""
    producer = ServiceRuntime(Settings(), migrations=Path(".")).make_dead_letter_producer()
    try:
        assert producer._sender._acks == -1  # "all"
        assert producer._txn_manager is None  # idempotence off
    finally:
        await producer.stop()


def test_fast_streams_own_producer_is_as_durable() -> None:
    runtime = ServiceRuntime(Settings(), migrations=Path("."))
    options = runtime.broker._connection_kwargs  # what FastStream builds its producer with
    assert options["acks"] == "all"
    assert options["enable_idempotence"] is True


def test_consumers_get_every_broker_of_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092, 127.0.0.1:9102,127.0.0.1:9112")
    runtime = ServiceRuntime(Settings(), migrations=Path("."))
    assert runtime.broker._connection_kwargs["bootstrap_servers"] == [
        "127.0.0.1:9092",
        "127.0.0.1:9102",
        "127.0.0.1:9112",
    ]
