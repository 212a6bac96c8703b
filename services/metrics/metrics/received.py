"""One consumed event as the metrics handlers see it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import asyncpg
from pydantic import BaseModel

from metrics.settings import Settings
from metrics.tally import Tally

# Covariant: a run of `Received[FollowUpTaskOverdue]` is a run of events with a due time.
C = TypeVar("C", bound=BaseModel, covariant=True)
E = TypeVar("E")


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


def in_waves(run: Iterable[E], key: Callable[[E], str]) -> list[list[E]]:
    """The run's events in waves: the k-th event of each key (the row it writes) in the k-th
    wave, in the run's order. A wave's events write distinct rows, so a wave can be written
    in one statement per kind of write, and every event still meets its row as the events
    before it left it."""
    waves: list[list[E]] = []
    seen: dict[str, int] = {}
    for e in run:
        k = seen.get(key(e), 0)
        seen[key(e)] = k + 1
        if k == len(waves):
            waves.append([])
        waves[k].append(e)
    return waves
