"""Dead-lettering a record no retry can publish whole: a reference to it instead, and never a
loop (the incident: a 1,048,400-byte complaint stopped every patient SMS)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import ConsumerRecord
from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    TopicAuthorizationFailedError,
)

from hospital_shared.consumer import TRANSIENT_ERRORS, ReliableConsumer
from hospital_shared.dead_letters import DeadLetter, DeadLetterSender, is_permanent

BROKER_LIMIT = 1_048_588  # Kafka's message.max.bytes


def record(
    value: bytes, *, offset: int = 7, key: bytes | None = b"P000001"
) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        topic="hospital.complaints.v1", partition=3, offset=offset, timestamp=0,
        timestamp_type=0, key=key, value=value, checksum=None, serialized_key_size=0,
        serialized_value_size=len(value), headers=(),
    )  # fmt: skip


class Broker:
    """A dead-letter publisher that refuses what the real broker refuses: a record whose
    value and headers are over its limit; optionally away for the first `down` tries."""

    def __init__(self, *, down: int = 0, refuse_all: BaseException | None = None) -> None:
        self.down = down
        self.refuse_all = refuse_all
        self.tries = 0
        self.letters: list[tuple[str, bytes | None, bytes, dict[str, str]]] = []

    async def __call__(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        self.tries += 1
        if self.tries <= self.down:
            raise KafkaConnectionError("broker away")
        if self.refuse_all is not None:
            raise self.refuse_all
        size = len(value) + len(key or b"") + sum(len(k) + len(v) for k, v in headers)
        if size > BROKER_LIMIT:
            raise MessageSizeTooLargeError(f"{size} bytes")
        self.letters.append((topic, key, value, {k: v.decode() for k, v in headers}))


def consumer(broker: Broker) -> ReliableConsumer:
    async def never(*_: Any) -> None:
        raise AssertionError("no valid event here")

    return ReliableConsumer(
        service="complaints", handler_name="complaints", handle=never, pool=None,  # type: ignore[arg-type]
        dead_letter=broker, initial_backoff_s=0.001, max_backoff_s=0.001,
    )  # fmt: skip


def test_size_and_invalid_records_are_permanent_an_outage_is_not() -> None:
    assert is_permanent(MessageSizeTooLargeError(), TRANSIENT_ERRORS)
    assert is_permanent(TypeError("header value must be bytes"), TRANSIENT_ERRORS)
    assert not is_permanent(KafkaConnectionError(), TRANSIENT_ERRORS)
    assert not is_permanent(ConnectionRefusedError(), TRANSIENT_ERRORS)


async def test_a_record_too_big_to_dead_letter_whole_is_dead_lettered_as_a_reference() -> None:
    broker = Broker()
    big = b'{"type": "complaint.submitted", "data": {"description": "' + b"x" * 1_048_300
    small = b'{"oops'
    await consumer(broker).process_batch([record(big), record(small, offset=8)])
    (topic, key, value, headers), (_, _, second, _) = broker.letters
    assert topic == "hospital.complaints.v1.dlq" and key == b"P000001"
    assert value == big[:4096]
    assert headers["dlq-reference"] == "true"
    assert headers["dlq-original-size"] == str(len(big))
    assert headers["dlq-value-prefix-bytes"] == "4096"
    assert headers["dlq-original-topic"] == "hospital.complaints.v1"
    assert (headers["dlq-original-partition"], headers["dlq-original-offset"]) == ("3", "7")
    assert headers["dlq-error-kind"] == "malformed_json"
    assert "MessageSizeTooLargeError" in headers["dlq-publish-error"]
    assert second == small  # the next record is dead-lettered whole, as before


async def test_a_broker_outage_is_waited_out_and_the_whole_record_kept() -> None:
    broker = Broker(down=3)
    await consumer(broker).process_batch([record(b"not json")])
    [(_, _, value, headers)] = broker.letters
    assert value == b"not json" and "dlq-reference" not in headers


async def test_a_record_not_even_a_reference_of_can_be_published_is_skipped_not_looped() -> None:
    broker = Broker(refuse_all=ValueError("refused for good"))
    c = consumer(broker)
    await c.process_batch([record(b"not json")])
    assert broker.tries == 2  # the whole record once, its reference once, then on


class StopRetrying(Exception):
    pass


async def test_an_authorization_failure_is_retried_as_the_operator_can_fix_it() -> None:
    """Not a property of the record: every dead letter would fail the same until the ACL is
    fixed, so it is waited out (and the stalled consumer turns /readyz red meanwhile)."""
    retries: list[int] = []

    def on_retry(tries: int, _: BaseException) -> float:
        retries.append(tries)
        if tries == 5:
            raise StopRetrying
        return 0.0

    sender = DeadLetterSender(
        Broker(refuse_all=TopicAuthorizationFailedError()), TRANSIENT_ERRORS, on_retry=on_retry
    )
    with pytest.raises(StopRetrying):
        await sender.send(DeadLetter("hospital.complaints.v1.dlq", None, b"v", []))
    assert retries == [1, 2, 3, 4, 5]
