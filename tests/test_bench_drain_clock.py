"""Where a drain's clock starts (`bench.drain._started`): at the measured groups' first
commit, also when the service answered /readyz before it, so that the batch in hand then is
not counted whole but timed in part (no stack needed: the broker's committed offsets and the
service's readiness are played by fakes)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bench import drain


class _Offsets:
    """The measured groups' committed records: 0 until `after` polls, then `then`."""

    def __init__(self, after: int, then: int, poll_s: float = 0.0) -> None:
        self.polls = 0
        self.after, self.then, self.poll_s = after, then, poll_s

    async def committed_on(self, group: str, topics: Any = None) -> int:
        self.polls += 1
        await asyncio.sleep(self.poll_s)  # the broker's round trip
        return self.then if self.polls > self.after else 0


class _Proc:
    name = "complaints"  # one measured group: one `committed_on` call a poll
    cfg = None
    process = None

    def __init__(self, ready_after_s: float) -> None:
        self.ready_after_s = ready_after_s

    async def ready(self) -> None:
        await asyncio.sleep(self.ready_after_s)


async def _start(offsets: _Offsets, ready_after_s: float, target: int) -> drain._Start:
    proc: Any = _Proc(ready_after_s)
    off: Any = offsets
    return await drain._started(off, [proc], "p-", 0, target)


@pytest.fixture(autouse=True)
def _fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drain, "POLL_S", 0.01)
    monkeypatch.setattr(drain, "stack_cpu_seconds", lambda cfg: {"postgres": 0.0})


async def test_ready_before_the_first_commit_still_times_from_the_commit() -> None:
    offsets = _Offsets(after=20, then=2000)  # the first commit ~0.2 s in, ready at once
    start = await _start(offsets, 0.0, 20000)
    assert start.committed == 2000  # left out of the rate, with its time
    assert offsets.polls > 20


async def test_a_first_commit_of_the_whole_backlog_times_from_ready() -> None:
    # nothing would be left to time after it: the batch is timed from /readyz, as before
    offsets = _Offsets(after=20, then=855)
    start = await _start(offsets, 0.0, 855)
    assert start.committed == 0


async def test_a_commit_before_ready_starts_the_clock() -> None:
    offsets = _Offsets(after=2, then=4000)
    start = await _start(offsets, 30.0, 50000)
    assert start.committed == 4000


async def test_no_commit_after_ready_gives_up_after_the_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(drain, "FIRST_COMMIT_WAIT_S", 0.1)
    offsets = _Offsets(after=10**9, then=1)
    start = await _start(offsets, 0.0, 100)
    assert start.committed == 0


async def test_ready_during_the_poll_that_finds_the_whole_backlog_times_from_ready() -> None:
    offsets = _Offsets(after=0, then=855, poll_s=0.05)  # /readyz answers while it asks
    start = await _start(offsets, 0.0, 855)
    assert start.committed == 0


async def test_no_backlog_starts_at_ready_without_waiting_for_a_commit() -> None:
    offsets = _Offsets(after=10**9, then=1)
    loop = asyncio.get_running_loop()
    began = loop.time()
    start = await _start(offsets, 0.0, 0)
    assert start.committed == 0
    assert loop.time() - began < drain.FIRST_COMMIT_WAIT_S / 10
