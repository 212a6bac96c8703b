"""The take-over's read of the groups' offsets waits out a broker that has no group
coordinator yet (a new cluster's first seconds: the metrics service crashed at start on it),
gives up at once on an error that waiting does not cure, never reads a group whose
coordinator is loading as one without offsets, and takes only offsets further than the
group's own."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import (
    CoordinatorLoadInProgressError,
    GroupAuthorizationFailedError,
    GroupCoordinatorNotAvailableError,
)
from aiokafka.structs import OffsetAndMetadata

from hospital_shared import group_handover

OFFSETS = {TopicPartition("t", 0): 7}


async def test_a_missing_coordinator_is_waited_out() -> None:
    calls = 0

    async def read() -> dict[TopicPartition, int]:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise GroupCoordinatorNotAvailableError("not yet")
        return OFFSETS

    assert await group_handover._retrying(read, "g") == OFFSETS
    assert calls == 3


async def test_an_error_waiting_does_not_cure_is_raised_at_once() -> None:
    calls = 0

    async def read() -> dict[TopicPartition, int]:
        nonlocal calls
        calls += 1
        raise GroupAuthorizationFailedError("denied")

    with pytest.raises(GroupAuthorizationFailedError):
        await group_handover._retrying(read, "g")
    assert calls == 1


async def test_a_coordinator_that_never_comes_fails_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(group_handover, "RETRY_FOR_S", 0.5)

    async def read() -> dict[TopicPartition, int]:
        raise GroupCoordinatorNotAvailableError("never")

    with pytest.raises(GroupCoordinatorNotAvailableError):
        await group_handover._retrying(read, "g")


class FakeAdmin:
    """The two admin calls the take-over makes, answering from `committed` (group -> tp ->
    offset); a group in `loading` answers as a broker whose coordinator is still loading:
    no partitions, the error at the group's level, which aiokafka does not raise."""

    def __init__(self, committed: dict[str, dict[TopicPartition, int]], loading: set[str]) -> None:
        self.committed = committed
        self.loading = loading

    async def describe_topics(self, topics: list[str]) -> list[dict[str, Any]]:
        return [
            {"error_code": 0, "topic": t, "partitions": [{"partition": 0}, {"partition": 1}]}
            for t in topics
        ]

    async def list_consumer_group_offsets(
        self, group: str, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        if group in self.loading:
            return {}
        mine = self.committed.get(group, {})
        return {tp: OffsetAndMetadata(mine.get(tp, -1), "") for tp in partitions}


A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)
REPLACED = {"old.a": "a", "old.b": "b"}


async def test_only_offsets_further_than_the_groups_own_are_taken() -> None:
    admin = FakeAdmin({"old.a": {A0: 10, A1: 5}, "old.b": {B0: 3}, "new": {A0: 12, A1: 2}}, set())
    wanted = await group_handover.offsets_to_take_over(admin, "new", REPLACED)  # type: ignore[arg-type]
    assert wanted == {A1: 5, B0: 3}  # A0: the group is further already


async def test_a_group_whose_coordinator_is_loading_is_not_read_as_having_no_offsets() -> None:
    admin = FakeAdmin({"old.a": {A0: 10}, "new": {A0: 12}}, {"new"})
    with pytest.raises(CoordinatorLoadInProgressError) as raised:
        await group_handover.offsets_to_take_over(admin, "new", REPLACED)  # type: ignore[arg-type]
    assert raised.value.retriable  # waited out by _retrying
    admin.loading = {"old.b"}
    with pytest.raises(CoordinatorLoadInProgressError):
        await group_handover.offsets_to_take_over(admin, "new", REPLACED)  # type: ignore[arg-type]
