"""Whether a consumer moves while records wait for it: the stall behind `/readyz`'s
`consumers_progressing` and the `ConsumerStalled` alert.

A consumer that retries one batch for ever (a record it could not dead-letter, a database
that refuses one statement) still has its partitions, its broker and its database: every
other check stays green while patients get no SMS. Records wait for a consumer when a batch
is in its hands or the broker holds records it has not fetched (lag = high-water mark -
position, measured every few seconds). It progresses when a batch is done (its offsets
committed). It is stalled when records have waited `stall_after_s` with no progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import Gauge

CONSUMER_STALLED_SECONDS = Gauge(
    "hospital_consumer_stalled_seconds",
    "Seconds since the consumer group last committed a batch while records wait for it"
    " (0 when none wait)",
    ["service", "group"],
)
CONSUMER_STALLED = Gauge(
    "hospital_consumer_stalled",
    "1 while the consumer group has made no progress for CONSUMER_STALL_AFTER_S with records"
    " waiting",
    ["service", "group"],
)


@dataclass
class ProgressWatch:
    stall_after_s: float
    clock: Callable[[], float] = time.monotonic
    in_flight: int = 0  # records of the batch being handled
    lag: int = 0  # records not fetched yet, at the last measurement
    # Since when records have waited with no progress; None while none wait.
    _since: float | None = field(default=None, init=False)

    def batch_started(self, records: int) -> None:
        self.in_flight = records
        self._waiting()

    def batch_finished(self, *, committed: bool) -> None:
        """A committed batch is progress. The lag measured before it is stale now (the
        consumer polls again at once): it counts again from the next measurement, so an
        idle consumer is not taken for a waiting one until then."""
        self.in_flight = 0
        if committed:
            self.lag = 0
            self._since = None

    def lag_measured(self, lag: int) -> None:
        self.lag = lag
        if lag:
            self._waiting()
        elif not self.in_flight:
            self._since = None

    @property
    def waiting(self) -> int:
        return self.in_flight + self.lag

    def seconds_without_progress(self) -> float:
        return 0.0 if self._since is None else self.clock() - self._since

    @property
    def stalled(self) -> bool:
        return self._since is not None and self.seconds_without_progress() >= self.stall_after_s

    def _waiting(self) -> None:
        if self._since is None:
            self._since = self.clock()
