"""Background work of a service, owned by its runtime: what runs once at start
(`on_start`, `on_stop`), periodic jobs (`every(interval)`), loops woken by a PostgreSQL NOTIFY
(`loop(..., wake_on=channel)`) and long-running workers with their own loop (`run`).

Before, each service replaced its app's `lifespan_context` by hand (six times across five
`app.py` files), started its tasks there in three ways and stopped them in two; nothing told
`/readyz` that one had died; and the two LISTEN loops had drifted apart (one never gave its
connection back when `remove_listener` failed). Here every job is a task the runtime starts
after the database, broker and consumers are up, counts in readiness (alive, and healthy
when the job says so) and cancels on shutdown before the `on_stop` hooks run; `listen` is the
one LISTEN loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from hospital_shared.jobs import every
from hospital_shared.loop import Loop

log = structlog.get_logger(__name__)

Hook = Callable[[], Awaitable[Any]]
Channel = str | Callable[[asyncpg.Connection], Awaitable[str]]


async def listen(pool: asyncpg.Pool, channel: Channel, on_notify: Callable[[], None]) -> None:
    """Call `on_notify` whenever `channel` is notified, until cancelled: one pooled connection
    LISTENs, and a lost connection is replaced. The connection always goes back to the pool,
    also when `remove_listener` fails on it (a broken connection). `channel` may be a name or
    a function of the connection (the outbox's is named after the current schema)."""

    def notified(*_: object) -> None:
        on_notify()

    while True:
        try:
            conn: asyncpg.Connection = await pool.acquire()
            name: str | None = None
            try:
                name = channel if isinstance(channel, str) else await channel(conn)
                await conn.add_listener(name, notified)
                while not conn.is_closed():  # noqa: ASYNC110 (asyncpg offers no close event)
                    await asyncio.sleep(1)
            finally:
                if name is not None:
                    with contextlib.suppress(Exception):
                        await conn.remove_listener(name, notified)
                    with contextlib.suppress(Exception):  # the pool's reset does not unlisten
                        await conn.execute("UNLISTEN *")
                with contextlib.suppress(Exception):
                    await pool.release(conn)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database away: try again in a second
            log.warning("listening failed, will retry", channel=str(channel), error=repr(exc))
            await asyncio.sleep(1)


@dataclass
class _Job:
    name: str
    work: Callable[[], Coroutine[Any, Any, None]]
    healthy: Callable[[], bool] | None = None


class Background:
    """The jobs of one service (see the module docstring). Register before start; `start`
    runs the `on_start` hooks in order, then starts every job; `stop` cancels the jobs, waits
    for them, then runs the `on_stop` hooks in reverse order."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.pool: asyncpg.Pool | None = None
        self._starts: list[Hook] = []
        self._stops: list[Hook] = []
        self._jobs: list[_Job] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def on_start(self, hook: Hook) -> Hook:
        self._starts.append(hook)
        return hook

    def on_stop(self, hook: Hook) -> Hook:
        self._stops.append(hook)
        return hook

    def every(
        self, interval_s: float, name: str, job: Callable[[], Awaitable[int]], *, again_if: int = 0
    ) -> None:
        """`job` now and every `interval_s`, at once again while it returns `again_if` or more
        (hospital_shared.jobs.every)."""
        service = self.service
        self.run(name, lambda: every(interval_s, name, job, service=service, again_if=again_if))

    def loop(
        self,
        name: str,
        one_pass: Callable[[], Awaitable[int]],
        *,
        interval_s: float,
        wake_on: Channel | None = None,
    ) -> Loop:
        """`one_pass` again at once while it finds work, else every `interval_s` or as soon as
        woken: by `Loop.wake`, or by a NOTIFY on `wake_on`."""
        loop = Loop(name, one_pass, interval_s)
        self.run(name, loop.run, healthy=lambda: loop.healthy, wake_on=wake_on, wake=loop.wake)
        return loop

    def run(
        self,
        name: str,
        work: Callable[[], Coroutine[Any, Any, None]],
        *,
        healthy: Callable[[], bool] | None = None,
        wake_on: Channel | None = None,
        wake: Callable[[], None] | None = None,
    ) -> None:
        """A worker with its own loop (`work()` runs until cancelled); with `wake_on`, `wake`
        is called on each NOTIFY of that channel."""
        if any(job.name == name for job in self._jobs):
            raise ValueError(f"background job {name!r} is registered twice")
        self._jobs.append(_Job(name, work, healthy))
        if wake_on is not None:
            if wake is None:
                raise ValueError(f"{name}: wake_on needs a wake function")
            self._jobs.append(_Job(f"{name}.listen", lambda: listen(self._pool(), wake_on, wake)))

    def _pool(self) -> asyncpg.Pool:
        assert self.pool is not None, "the background jobs start once the pool is open"
        return self.pool

    async def start(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        for hook in self._starts:
            await hook()
        for job in self._jobs:
            self._tasks[job.name] = asyncio.create_task(job.work(), name=job.name)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for hook in reversed(self._stops):
            try:
                await hook()
            except Exception:
                log.exception("stopping failed", service=self.service)

    def not_running(self) -> list[str]:
        """The jobs that have ended (a worker that raised) or say they are not healthy (a
        pass failing while the database is away): what `/readyz` names."""
        failing = []
        for job in self._jobs:
            task = self._tasks.get(job.name)
            if task is None or task.done() or (job.healthy is not None and not job.healthy()):
                failing.append(job.name)
        return failing

    @property
    def started(self) -> bool:
        return bool(self._tasks) or not self._jobs
