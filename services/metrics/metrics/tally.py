"""Counter increments of one batch, summed in memory and written in one statement.

The batch handler runs inside the reliable consumer's transaction together with the batch's
inbox rows, so the summed deltas land exactly once with the events that caused them.
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

from metrics.catalog import MetricSpec
from metrics.domain import label_key


class Tally:
    """The batch's counter deltas per (metric, label set)."""

    __slots__ = ("deltas",)

    def __init__(self) -> None:
        self.deltas: dict[tuple[str, str], int] = {}

    def add(self, metric: MetricSpec, labels: Mapping[str, str], by: int = 1) -> None:
        if set(labels) != set(metric.labels):
            raise ValueError(f"{metric.name} takes labels {metric.labels}, got {sorted(labels)}")
        key = (metric.name, label_key(labels))
        self.deltas[key] = self.deltas.get(key, 0) + by

    async def flush(self, conn: asyncpg.Connection) -> None:
        """Add the deltas to `counter_totals` (rows in key order: a stable lock order)."""
        if not self.deltas:
            return
        keys = sorted(self.deltas)
        await conn.execute(
            "INSERT INTO counter_totals (metric, labels, value)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])"
            " ON CONFLICT (metric, labels)"
            " DO UPDATE SET value = counter_totals.value + EXCLUDED.value",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [self.deltas[k] for k in keys],
        )
        self.deltas.clear()
