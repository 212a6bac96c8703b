"""A consumer's offset commits, at most one every `consumer_commit_interval_ms`.

Every batch used to commit its offsets as soon as its transaction had (aiokafka's position,
which then was the batch's end). A consumer that keeps up with a steady stream takes it in
small batches, up to fifty a second each, and every commit is a request the broker writes to
`__consumer_offsets` and answers: at 1,000 events/s the nine consumer groups' commits were
a large part of Kafka's CPU and of each service's Kafka client (issue 22).

The inbox already makes a redelivered event harmless, so a commit may wait a little: a
batch's offsets are noted once its transaction has committed and go out with the next
commit, which comes when `interval_s` has passed since the last one, from the batch that
finds it so or from a timer when no batch comes. What a commit names is always what was
handled, each partition's last handled record + 1, never aiokafka's fetch position (which
by then may be past records fetched but not handled). Commits go one at a time, so a
partition's committed offset never goes back, nor does a batch noted after a later one's
commit send its lower offsets (batches are handled in order today; a pipeline of them would
not be).

A crash or a stop before the commit redelivers at most `interval_s` of handled events, which
the inbox skips. A batch that sent a dead letter commits at once, so that a restart does not
send it a second time. Partitions revoked in a rebalance are committed first (the listener),
then forgotten, and a batch begun before the rebalance notes nothing; offsets of partitions
this consumer no longer holds are dropped at every commit: their new owner gets those
records again and its inbox skips them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any, Protocol

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from hospital_shared.failpoints import failpoint

log = structlog.get_logger(__name__)


class Committing(Protocol):
    """What is used of aiokafka's consumer."""

    def assignment(self) -> set[TopicPartition]: ...

    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...


class OffsetCommitter:
    def __init__(self, interval_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        """`interval_s`: the least time between two commits (0: every batch commits)."""
        self.interval_s = interval_s
        self.clock = clock
        self.consumer: Committing | None = None
        self.pending: dict[TopicPartition, int] = {}  # partition -> next offset to read
        # What this member committed of each partition it holds: a batch handled after a
        # later one (a pipeline of batches; none today) never moves a partition back.
        self.committed: dict[TopicPartition, int] = {}
        self._last = -float("inf")
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None
        self.commits = 0  # how many commits went to the broker (tests, bench)
        # Rebalances so far: a batch begun before one has its offsets dropped (`handled`).
        self.epoch = 0
        self.stopped = False  # after `stop`: every batch commits at once, no timer

    async def handled(
        self,
        consumer: Committing,
        records: Iterable[Any],
        *,
        at_once: bool = False,
        epoch: int | None = None,
    ) -> None:
        """Note `records` (anything with topic, partition, offset) as handled: their
        transaction has committed. Commits now when the interval has passed or `at_once`,
        else leaves it to the timer. `epoch`: `self.epoch` when the batch began; a batch
        that began before a rebalance notes nothing (its partitions may have been handled
        and committed further by another member since: its offsets could move them back;
        the inbox skips what they redeliver)."""
        if epoch is not None and epoch != self.epoch:
            return
        self.consumer = consumer
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            if r.offset + 1 > max(self.pending.get(tp, -1), self.committed.get(tp, -1)):
                self.pending[tp] = r.offset + 1
        if not (at_once or self.stopped) and self.clock() - self._last < self.interval_s:
            self._start_timer()
            return
        try:
            await self.flush()
        except KafkaError as exc:  # the broker away, a rebalance: kept for the timer
            log.warning("offset commit failed, kept for the next", error=repr(exc))
            self._start_timer()

    async def flush(self, partitions: Collection[TopicPartition] | None = None) -> None:
        """Commit what is handled and not committed yet (of `partitions`, if given)."""
        async with self._lock:
            consumer = self.consumer
            if consumer is None:
                return
            held = consumer.assignment()
            for tp in [tp for tp in self.pending if tp not in held]:
                del self.pending[tp]  # revoked: its new owner's inbox skips what we handled
            for tp in [tp for tp in self.committed if tp not in held]:
                del self.committed[tp]
            offsets = {
                tp: offset
                for tp, offset in self.pending.items()
                if partitions is None or tp in partitions
            }
            if not offsets:
                return
            failpoint("consumer.before_offset_commit")
            self._last = self.clock()
            await consumer.commit(offsets)
            self.commits += 1
            for tp, offset in offsets.items():
                self.committed[tp] = offset
                if self.pending.get(tp) == offset:
                    del self.pending[tp]
        if self.pending:  # handled while this commit was on its way
            self._start_timer()

    async def revoked(self, partitions: Collection[TopicPartition]) -> None:
        """A rebalance takes `partitions` away: commit what was handled of them, then forget
        them whatever the commit did, and begin a new epoch."""
        self.epoch += 1
        try:
            await self.flush(partitions)
        finally:
            for tp in partitions:
                self.pending.pop(tp, None)
                self.committed.pop(tp, None)  # another member may move it on

    def _start_timer(self) -> None:
        if self.stopped:
            return
        if self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(max(0.0, self._last + self.interval_s - self.clock()))
        self._timer = None
        try:
            await self.flush()
        except KafkaError as exc:  # the broker away: the next batch or timer tries again
            log.warning("offset commit failed, kept for the next", error=repr(exc))
            self._start_timer()

    async def stop(self) -> None:
        """Commit what is handled (the service is stopping) and stop the timer; a batch
        handled after this commits at once."""
        self.stopped = True
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        try:
            await self.flush()
        except KafkaError as exc:
            log.warning("offset commit at stop failed: redelivered at start", error=repr(exc))
