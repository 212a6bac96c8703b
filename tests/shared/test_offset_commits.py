"""The offset committer: what it commits (each partition's last handled record + 1, never
going back), when (at most one commit an interval, the rest by a timer), and what it drops
(partitions no longer held). Against a fake of aiokafka's consumer: the real one is under
the stack tests (a kill before the commit, the merge readers' committed offsets)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from hospital_shared.offset_commits import OffsetCommitter

A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)


@dataclass
class Record:
    topic: str
    partition: int
    offset: int


@dataclass
class FakeConsumer:
    held: set[TopicPartition] = field(default_factory=lambda: {A0, A1, B0})
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    fail: int = 0  # the next this many commits fail
    delay_s: float = 0.0

    def assignment(self) -> set[TopicPartition]:
        return set(self.held)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await asyncio.sleep(self.delay_s)
        if self.fail:
            self.fail -= 1
            raise CommitFailedError("rebalancing")
        for tp in offsets:
            assert tp in self.held, f"{tp} is not assigned"
            assert offsets[tp] >= self.committed.get(tp, 0), "a committed offset went back"
        self.commits.append(dict(offsets))
        self.committed.update(offsets)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def records(topic: str, partition: int, *offsets: int) -> list[Record]:
    return [Record(topic, partition, o) for o in offsets]


async def test_the_first_batch_commits_at_once_the_next_within_the_interval_wait() -> None:
    clock, consumer = Clock(), FakeConsumer()
    committer = OffsetCommitter(0.5, clock=clock)
    await committer.handled(consumer, records("a", 0, 5, 6, 7) + records("b", 0, 2))
    assert consumer.commits == [{A0: 8, B0: 3}]  # last handled + 1, by partition
    clock.now += 0.1
    await committer.handled(consumer, records("a", 0, 8, 9))
    await committer.handled(consumer, records("a", 1, 0))
    assert len(consumer.commits) == 1
    assert committer.pending == {A0: 10, A1: 1}
    clock.now += 0.4  # the interval has passed: the next batch commits both batches' offsets
    await committer.handled(consumer, records("b", 0, 3))
    assert consumer.commits[1] == {A0: 10, A1: 1, B0: 4}
    assert committer.pending == {}
    await committer.stop()


async def test_what_no_batch_follows_is_committed_by_the_timer() -> None:
    consumer = FakeConsumer()
    committer = OffsetCommitter(0.05)
    await committer.handled(consumer, records("a", 0, 0))
    await committer.handled(consumer, records("a", 0, 1, 2))
    assert consumer.commits == [{A0: 1}]
    await asyncio.sleep(0.15)
    assert consumer.commits == [{A0: 1}, {A0: 3}]
    assert committer.pending == {}
    await committer.stop()


async def test_a_dead_letter_commits_its_batch_at_once() -> None:
    clock, consumer = Clock(), FakeConsumer()
    committer = OffsetCommitter(60, clock=clock)
    await committer.handled(consumer, records("a", 0, 0))
    await committer.handled(consumer, records("a", 0, 1), at_once=True)
    assert consumer.commits == [{A0: 1}, {A0: 2}]
    await committer.stop()


async def test_records_out_of_order_never_move_a_partition_back() -> None:
    consumer = FakeConsumer()
    committer = OffsetCommitter(0)
    await committer.handled(consumer, records("a", 0, 9, 4, 7))
    assert consumer.commits == [{A0: 10}]


async def test_a_batch_handled_after_a_later_one_never_moves_a_partition_back() -> None:
    """Batches handled out of order (a pipeline of batches, which a session-26 probe tried):
    the earlier batch's offsets, noted after the later one's were committed, are not sent."""
    consumer = FakeConsumer()
    committer = OffsetCommitter(0)
    await committer.handled(consumer, records("a", 0, 5, 6, 7))
    await committer.handled(consumer, records("a", 0, 2, 3, 4) + records("a", 1, 0))
    assert consumer.commits == [{A0: 8}, {A1: 1}]
    # revoked, its offset reset by an operator, given back: from there on, what it handles
    await committer.revoked({A0})
    consumer.committed[A0] = 3
    await committer.handled(consumer, records("a", 0, 3))
    assert consumer.commits[-1] == {A0: 4}


async def test_commits_go_one_at_a_time_and_keep_what_was_handled_meanwhile() -> None:
    """A timer's commit on its way while a batch is handled: the batch's offset is neither
    lost nor sent before the one it follows (the fake refuses an offset going back)."""
    consumer = FakeConsumer(delay_s=0.05)
    committer = OffsetCommitter(0.1)
    await committer.handled(consumer, records("a", 0, 0))  # commits 1 (t = 0 to 0.05)
    await committer.handled(consumer, records("a", 0, 1))  # left to the timer (t = 0.1)
    await asyncio.sleep(0.07)  # the timer's commit of 2 is on its way (t = 0.1 to 0.15)
    assert committer.pending == {A0: 2}
    await committer.handled(consumer, records("a", 0, 2))
    await asyncio.sleep(0.3)
    assert [c[A0] for c in consumer.commits] == [1, 2, 3]
    assert committer.pending == {}
    await committer.stop()


async def test_partitions_no_longer_held_are_dropped_not_committed() -> None:
    clock, consumer = Clock(), FakeConsumer()
    committer = OffsetCommitter(1, clock=clock)
    await committer.handled(consumer, records("a", 0, 0))
    await committer.handled(consumer, records("a", 0, 1) + records("a", 1, 0))
    consumer.held = {A1}  # a rebalance took a-0 away
    await committer.stop()
    assert consumer.commits == [{A0: 1}, {A1: 1}]
    assert committer.pending == {}


async def test_a_revoked_partition_is_committed_alone_before_it_goes() -> None:
    clock, consumer = Clock(), FakeConsumer()
    committer = OffsetCommitter(1, clock=clock)
    await committer.handled(consumer, records("a", 0, 0))
    await committer.handled(consumer, records("a", 0, 1) + records("a", 1, 4))
    await committer.revoked({A0})
    assert consumer.commits == [{A0: 1}, {A0: 2}]
    assert committer.pending == {A1: 5}
    await committer.stop()
    assert consumer.commits[-1] == {A1: 5}


async def test_a_failed_commit_keeps_the_offsets_for_the_next() -> None:
    consumer = FakeConsumer(fail=2)
    committer = OffsetCommitter(0.02)
    await committer.handled(consumer, records("a", 0, 0, 1))  # fails, kept for the timer
    assert consumer.commits == []
    assert committer.pending == {A0: 2}
    await asyncio.sleep(0.2)  # the timer's first try fails too, its second goes through
    assert consumer.commits == [{A0: 2}]
    assert committer.pending == {}
    await committer.stop()


async def test_nothing_handled_nothing_committed() -> None:
    committer = OffsetCommitter(0.5)
    await committer.stop()
    await committer.flush()
    assert committer.commits == 0


@pytest.mark.parametrize("interval", [0, 0.5])
async def test_stop_commits_everything_handled(interval: float) -> None:
    clock, consumer = Clock(), FakeConsumer()
    committer = OffsetCommitter(interval, clock=clock)
    for offset in range(5):
        await committer.handled(consumer, records("b", 0, offset))
    await committer.stop()
    assert consumer.committed == {B0: 5}
    assert committer.commits == len(consumer.commits)
    await asyncio.sleep(0)


async def test_a_rebalance_forgets_what_it_could_not_commit_and_a_batch_begun_before_it() -> None:
    """The member lost its partitions (its commit refused), then got one back: nothing from
    before the rebalance is committed over what the other member committed meanwhile."""
    clock, consumer = Clock(), FakeConsumer()
    committer = OffsetCommitter(1, clock=clock)
    await committer.handled(consumer, records("a", 0, 0))  # committed: 1
    begun = committer.epoch
    await committer.handled(consumer, records("a", 0, 1, 2), epoch=begun)  # waits for the timer
    consumer.fail = 1  # the group has moved on: the revoke's commit is refused
    with pytest.raises(CommitFailedError):
        await committer.revoked({A0})
    assert committer.pending == {}
    consumer.committed[A0] = 9  # the other member handled and committed up to 9
    await committer.handled(consumer, records("a", 0, 3), epoch=begun)  # began before it
    await committer.stop()
    assert consumer.commits == [{A0: 1}]
    assert consumer.committed == {A0: 9}


async def test_after_stop_a_batch_commits_at_once_and_no_timer_is_left() -> None:
    clock, consumer = Clock(), FakeConsumer()
    committer = OffsetCommitter(60, clock=clock)
    await committer.handled(consumer, records("a", 0, 0))
    await committer.stop()
    await committer.handled(consumer, records("a", 0, 1))  # a batch that ended meanwhile
    assert consumer.commits == [{A0: 1}, {A0: 2}]
    assert committer._timer is None
