"""The runtime's background work (hospital_shared.background), without a database: hooks and
jobs start in order, a dead or failing job is named for /readyz, and stopping cancels the
jobs before the stop hooks run. The LISTEN loop on the real PostgreSQL:
tests/integration/test_listen_loops.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hospital_shared.background import Background


async def test_start_runs_the_hooks_then_the_jobs_and_stop_cancels_them_before_stop_hooks() -> None:
    seen: list[str] = []
    background = Background("test")
    passes = asyncio.Event()

    @background.on_start
    async def first() -> None:
        seen.append("start hook")

    async def one_pass() -> int:
        seen.append("job ran")
        passes.set()
        return 0

    background.every(60, "periodic", one_pass)

    async def worker() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            seen.append("worker stopped")

    background.run("worker", worker)

    @background.on_stop
    async def last() -> None:
        seen.append("stop hook")

    await background.start(pool=None)  # type: ignore[arg-type]
    await passes.wait()
    assert background.not_running() == []
    await background.stop()
    assert seen == ["start hook", "job ran", "worker stopped", "stop hook"]


async def test_a_job_that_ended_or_is_unhealthy_is_named() -> None:
    background = Background("test")
    healthy = {"loop": True}

    async def ends() -> None:
        raise RuntimeError("boom")

    async def forever() -> None:
        await asyncio.Event().wait()

    background.run("ends", ends)
    background.run("flaky", forever, healthy=lambda: healthy["loop"])
    assert background.not_running() == ["ends", "flaky"]  # not started yet
    await background.start(pool=None)  # type: ignore[arg-type]
    for _ in range(3):  # let `ends` run and raise (it does on its first step)
        await asyncio.sleep(0)
    healthy["loop"] = False
    assert background.not_running() == ["ends", "flaky"]
    healthy["loop"] = True
    assert background.not_running() == ["ends"]
    await background.stop()


def test_a_job_is_registered_once_and_wake_on_needs_a_wake() -> None:
    background = Background("test")

    async def work() -> Any:
        return None

    background.run("a", work)
    with pytest.raises(ValueError, match="twice"):
        background.run("a", work)
    with pytest.raises(ValueError, match="wake"):
        background.run("b", work, wake_on="channel")


async def test_a_loop_woken_runs_again_at_once() -> None:
    background = Background("test")
    passes: list[int] = []
    first, second = asyncio.Event(), asyncio.Event()

    async def one_pass() -> int:
        passes.append(1)
        (first if len(passes) == 1 else second).set()
        return 0

    loop = background.loop("loop", one_pass, interval_s=3600)
    await background.start(pool=None)  # type: ignore[arg-type]
    await first.wait()
    loop.wake()
    await second.wait()  # an hour's interval: only the wake-up can have run it
    await background.stop()
