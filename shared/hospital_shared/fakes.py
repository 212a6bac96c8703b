"""Fakes of shared interfaces, for services' unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class RecordingPublisher:
    """A `PublishBatch` that keeps what it was given instead of sending it to Kafka."""

    sent: list[tuple[str, str | None, bytes]] = field(default_factory=list)
    delay_s: float = 0.0
    fail_next: int = 0

    async def __call__(self, records: Sequence[tuple[str, str | None, bytes]]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("fake broker is down")
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.sent.extend(records)


@dataclass
class RecordingDeadLetters:
    """A `DeadLetterPublisher` that keeps the dead letters."""

    letters: list[tuple[str, bytes | None, bytes, dict[str, str]]] = field(default_factory=list)

    async def __call__(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        self.letters.append((topic, key, value, {k: v.decode() for k, v in headers}))
