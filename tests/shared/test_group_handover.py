"""The take-over's read of the groups' offsets waits out a broker that has no group
coordinator yet (a new cluster's first seconds: the metrics service crashed at start on it),
and gives up at once on an error that waiting does not cure."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import GroupAuthorizationFailedError, GroupCoordinatorNotAvailableError

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
