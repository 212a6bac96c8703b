"""One consumed event as the metrics handlers see it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import asyncpg
from pydantic import BaseModel

from metrics.settings import Settings
from metrics.tally import Tally

# Covariant: a run of `Received[FollowUpTaskOverdue]` is a run of events with a due time.
C = TypeVar("C", bound=BaseModel, covariant=True)


@dataclass(frozen=True, slots=True)
class Received(Generic[C]):
    """Its id, type and time, and its payload as the contract's typed model (`contract`:
    `EVENT_TYPES[type].model`, validated when decoded, so a handler reads attributes and
    enums rather than a dict's keys: a field the contract renames is a type error here, not
    a label quietly turned "unknown"). A handler names its model: `e: Received[Model]`."""

    id: str
    type: str
    time: datetime
    contract: C
    settings: Settings
    tally: Tally  # the batch's counter increments, written once at the end of the batch


Handler = Callable[[asyncpg.Connection, Received[Any]], Awaitable[None]]
# A run of consecutive events of one type, written in bulk.
BulkHandler = Callable[[asyncpg.Connection, Sequence[Received[Any]]], Awaitable[None]]
