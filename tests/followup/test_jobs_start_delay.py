"""`FOLLOWUP_JOBS_START_DELAY_S`: the assignment and the due scan do nothing until the delay
after start has passed, then run as before."""

from __future__ import annotations

from followup.jobs import after_start_delay


async def test_a_job_does_nothing_until_its_start_delay_has_passed() -> None:
    now = [100.0]
    runs: list[float] = []

    async def job() -> int:
        runs.append(now[0])
        return 7

    held = after_start_delay(60.0, job, clock=lambda: now[0])
    assert await held() == 0  # at start
    now[0] = 159.9
    assert await held() == 0
    now[0] = 160.0
    assert await held() == 7
    assert runs == [160.0]


async def test_no_delay_runs_at_once() -> None:
    async def job() -> int:
        return 3

    assert await after_start_delay(0.0, job, clock=lambda: 5.0)() == 3
