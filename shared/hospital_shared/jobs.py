"""Periodic background jobs of a service (timers, scanners, retention purges): run one every
so often, again at once while it reports a full batch, and never let one failure stop it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import Counter

from hospital_shared.db import TRANSIENT_DB_ERRORS

log = structlog.get_logger(__name__)

JOB_RUNS = Counter(
    "hospital_job_runs_total", "Passes of periodic background jobs", ["service", "job", "result"]
)


async def every(
    interval_s: float,
    name: str,
    job: Callable[[], Awaitable[int]],
    *,
    service: str,
    again_if: int = 0,
) -> None:
    """Run `job` now and every `interval_s` until cancelled; at once again while it returns at
    least `again_if` (a full batch: more is probably waiting). A failure is logged and counted,
    and the job runs again next time (the database may be away for now)."""
    while True:
        try:
            done = await job()
            JOB_RUNS.labels(service, name, "ok").inc()
        except asyncio.CancelledError:
            raise
        except TRANSIENT_DB_ERRORS as exc:
            JOB_RUNS.labels(service, name, "error").inc()
            log.warning("periodic job failed, will retry", job=name, error=repr(exc))
            done = 0
        except Exception:
            JOB_RUNS.labels(service, name, "error").inc()
            log.exception("periodic job failed", job=name)
            done = 0
        if again_if and done >= again_if:
            continue
        await asyncio.sleep(interval_s)


async def stop_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
