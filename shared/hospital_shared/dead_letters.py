"""Dead-lettering one record, whatever its size: the whole record, or else a reference to it.

A record the broker accepted can still be too big to dead-letter: the dead-letter copy
carries its reason in headers, and a 1,048,400-byte complaint (under the broker's
`message.max.bytes`, 1,048,588) plus those headers is over it. The producer then raises
`MessageSizeTooLargeError` on every try; retried as if the broker were away, one such record
stopped its consumer for good (complaints, the metrics complaint handler, every patient SMS).

So a publish failure is sorted into two kinds:
- transient (the broker or the network is away: `TRANSIENT_ERRORS` other than the record
  errors below): retried with backoff, as long as it takes, so nothing is lost;
- permanent for this record (too large, refused as corrupt or invalid, or an error that is no
  Kafka or connection error at all, such as a header of the wrong type): no retry cures it.
  The record is dead-lettered as a reference instead: its topic, partition, offset and size,
  the reason, and the first `prefix_bytes` of its value (headers `dlq-reference: true`,
  `dlq-original-size`, `dlq-publish-error`). The original stays readable on its topic at that
  offset (until retention removes it). Should even the reference be refused for good, the
  record is counted (`result="dead_letter_lost"`), logged with its coordinates, and skipped:
  one record never blocks its partition, nor every other topic of its consumer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import ConsumerRecord
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)

from hospital_shared.codec import InvalidEvent
from hospital_shared.topics import dead_letter_topic

log = structlog.get_logger(__name__)

# Errors that concern the record itself: another try sends the same bytes and fails the same.
RECORD_ERRORS: tuple[type[BaseException], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
    InvalidTopicError,
)
REASON_LIMIT = 1000  # characters of the reason a reference carries
KEY_LIMIT = 1024  # a larger key is left off a reference

# publish(topic, key, value, headers) sends one record and waits for the ack.
DeadLetterPublisher = Callable[[str, bytes | None, bytes, list[tuple[str, bytes]]], Awaitable[None]]


def is_permanent(exc: BaseException, transient: tuple[type[BaseException], ...]) -> bool:
    """True when no retry can publish this record (see the module's docstring)."""
    return isinstance(exc, RECORD_ERRORS) or not isinstance(exc, transient)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def whole(
    record: ConsumerRecord[Any, Any], rejection: InvalidEvent, *, attempts: int, origin: list[str]
) -> DeadLetter:
    """The dead letter with the original bytes; `origin` is `[service, handler]`."""
    service, handler = origin
    headers = [
        ("dlq-error-kind", rejection.kind.value.encode()),
        ("dlq-reason", rejection.reason.encode()),
        ("dlq-attempts", str(attempts).encode()),
        ("dlq-service", service.encode()),
        ("dlq-handler", handler.encode()),
        ("dlq-original-topic", record.topic.encode()),
        ("dlq-original-partition", str(record.partition).encode()),
        ("dlq-original-offset", str(record.offset).encode()),
        # The record's own headers (its CloudEvents `content-type`, a binary-mode event's
        # `ce_*` attributes): without them a binary-mode event could not be read again.
        *((name, value) for name, value in record.headers or () if not name.startswith("dlq-")),
    ]
    value = record.value if record.value is not None else b""
    return DeadLetter(dead_letter_topic(record.topic), record.key, value, headers)


def reference(letter: DeadLetter, error: BaseException, *, prefix_bytes: int) -> DeadLetter:
    """A bounded stand-in for `letter`: the same headers (the reason cut to `REASON_LIMIT`
    characters), the first `prefix_bytes` of the value, and what the whole record was."""
    headers = [
        (name, value[:REASON_LIMIT] if name == "dlq-reason" else value)
        for name, value in letter.headers
    ]
    headers += [
        ("dlq-reference", b"true"),
        ("dlq-original-size", str(len(letter.value)).encode()),
        ("dlq-value-prefix-bytes", str(min(prefix_bytes, len(letter.value))).encode()),
        ("dlq-publish-error", repr(error)[:REASON_LIMIT].encode()),
    ]
    key = letter.key if letter.key is not None and len(letter.key) <= KEY_LIMIT else None
    return DeadLetter(letter.topic, key, letter.value[:prefix_bytes], headers)


@dataclass
class DeadLetterSender:
    """Publishes dead letters: whole, else as a reference, else counted as lost (never a loop
    on a record no retry can publish). `on_retry(tries, error)` is told of each transient
    failure and returns how long to wait before the next try."""

    publish: DeadLetterPublisher
    transient: tuple[type[BaseException], ...]
    on_retry: Callable[[int, BaseException], float]
    prefix_bytes: int = 4096

    async def send(self, letter: DeadLetter) -> str:
        """`whole`, `reference` or `lost`: what reached the dead-letter topic."""
        error = await self._publish(letter)
        if error is None:
            return "whole"
        log.error(
            "record cannot be dead-lettered whole, dead-lettering a reference to it",
            topic=letter.topic,
            size=len(letter.value),
            error=repr(error),
        )
        ref = reference(letter, error, prefix_bytes=self.prefix_bytes)
        error = await self._publish(ref)
        if error is None:
            return "reference"
        log.error(
            "not even a reference to the record could be dead-lettered; skipping it",
            topic=letter.topic,
            headers={k: v.decode(errors="replace") for k, v in ref.headers if k != "dlq-reason"},
            error=repr(error),
        )
        return "lost"

    async def _publish(self, letter: DeadLetter) -> BaseException | None:
        """None once the broker has it; the error when no retry can help."""
        tries = 0
        while True:
            try:
                await self.publish(letter.topic, letter.key, letter.value, letter.headers)
                return None
            except Exception as exc:
                if is_permanent(exc, self.transient):
                    return exc
                tries += 1
                await asyncio.sleep(self.on_retry(tries, exc))
