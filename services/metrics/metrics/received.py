"""One consumed event as the metrics handlers see it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from metrics.domain import as_time, field
from metrics.settings import Settings
from metrics.tally import Tally


@dataclass(frozen=True, slots=True)
class Received:
    """Its id, type and time, its payload as the contract's typed model (`contract`, validated
    when decoded), and as a plain dict (`data`, its `model_dump`) for the label helpers."""

    id: str
    type: str
    time: datetime
    data: dict[str, Any]
    contract: Any  # the payload's model: `EVENT_TYPES[type].model`
    settings: Settings
    tally: Tally  # the batch's counter increments, written once at the end of the batch

    def at(self, *names: str) -> datetime:
        """The first of the payload's time fields present, else the event's time."""
        return as_time(field(self.data, *names), self.time)

    def text(self, *names: str) -> str | None:
        value = field(self.data, *names)
        return None if value is None else str(getattr(value, "value", value))


Handler = Callable[[asyncpg.Connection, Received], Awaitable[None]]
# A run of consecutive events of one type, written in bulk.
BulkHandler = Callable[[asyncpg.Connection, Sequence[Received]], Awaitable[None]]
