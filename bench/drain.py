"""Backlog drain: start a service on a backlog and time it until every effect is visible: its
consumer groups have committed every record that was waiting (offsets are committed only
after the effects' transaction, so a committed record's effects are in the database), and its
outbox relay has published every event those effects queued."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import asyncpg
import psutil

from bench import profile
from bench.kafka_offsets import Offsets
from bench.stack import POLL_S, Proc, RssSampler, now
from hospital_shared import topics

CONSUMED: dict[str, tuple[str, ...]] = {
    "followup": (topics.REGISTRATIONS, topics.DISCHARGES),
    "complaints": (topics.COMPLAINTS_IN,),
    "notifications": (
        topics.REGISTRATIONS, topics.DISCHARGES, topics.COMPLAINTS_IN,
        topics.FOLLOWUP_TASKS, topics.COMPLAINT_CASES, topics.STAFF_ROSTER,
    ),
    "metrics": (
        topics.REGISTRATIONS, topics.DISCHARGES, topics.COMPLAINTS_IN,
        topics.FOLLOWUP_TASKS, topics.COMPLAINT_CASES, topics.NOTIFICATIONS,
    ),
}  # fmt: skip
EXPECTED_GROUPS = {"followup": 2, "complaints": 1, "notifications": 1, "metrics": 6}
# An event of the service's outbox not yet published (every service has one, in its schema).
_UNPUBLISHED = "SELECT EXISTS (SELECT 1 FROM {schema}.outbox WHERE published_at IS NULL)"


@dataclass
class DrainResult:
    service: str
    instances: int
    events: int
    seconds: float  # from launching the process(es) to the last commit
    startup_s: float  # from launching to /readyz (consumers assigned)
    complete: bool  # the whole backlog drained (else stopped at the time cap)
    cpu_s: float = 0.0  # CPU seconds (user + system) the processes used once ready
    runs: list[int] = field(default_factory=list)  # each run's rate, when it ran several times

    @property
    def cpu_ms_per_event(self) -> float:
        return 1000 * self.cpu_s / self.events if self.events else 0.0

    @property
    def rate(self) -> float:
        """Events per second once running (start-up excluded)."""
        busy = self.seconds - self.startup_s
        return self.events / busy if busy > 0 else 0.0

    @property
    def rate_with_startup(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


async def drain(
    bootstrap: str,
    database_url: str,
    procs: list[Proc],
    sampler: RssSampler,
    *,
    group_prefix: str,
    timeout: float = 1800,
    profile_as: str | None = None,
) -> DrainResult:
    """Start `procs` (instances of one service) and wait until their groups caught up and
    their outbox is published."""
    db = await asyncpg.connect(database_url)
    try:
        return await _drain(bootstrap, db, procs, sampler, group_prefix, timeout, profile_as)
    finally:
        await db.close()


async def _drain(
    bootstrap: str, db: asyncpg.Connection, procs: list[Proc], sampler: RssSampler,
    group_prefix: str, timeout: float, profile_as: str | None,
) -> DrainResult:  # fmt: skip
    service = procs[0].name
    async with Offsets(bootstrap) as off:
        target = await off.end_total(CONSUMED[service])
        launched = now()
        for proc in procs:  # all instances at once: they share the backlog from the start
            proc.start()
            sampler.watch(proc)
        # "ready" is the first instance with its consumers assigned: processing has begun.
        await _first_ready(procs)
        ready = now()
        cpu_at_ready = _cpu_seconds(procs)
        if profile_as is not None and procs[0].process is not None:
            profile.start(procs[0].process.pid, profile_as)
        groups: list[str] = []
        marked = False
        deadline = ready + timeout
        done = 0
        while now() < deadline:
            if len(groups) < EXPECTED_GROUPS[service]:
                groups = await off.groups(group_prefix)
            done = await off.committed_total(groups)
            if not marked and done >= 100_000:
                for proc in procs:
                    sampler.mark(proc.label, "rss_at_100k")
                marked = True
            if (
                done >= target
                and len(groups) >= EXPECTED_GROUPS[service]
                and not await db.fetchval(_UNPUBLISHED.format(schema=service))
            ):
                break
            await asyncio.sleep(POLL_S)
        finished = now()
        cpu = _cpu_seconds(procs) - cpu_at_ready
        complete = done >= target
        for proc in procs:
            sampler.mark(proc.label, "rss_at_end")
    # The rate counts from the moment the (first) process was launched: start-up included.
    return DrainResult(
        service, len(procs), done, finished - launched, ready - launched, complete, cpu
    )


def _cpu_seconds(procs: list[Proc]) -> float:
    total = 0.0
    for proc in procs:
        if proc.process is None:
            continue
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(proc.process.pid).cpu_times()
            total += times.user + times.system
    return total


async def _first_ready(procs: list[Proc]) -> None:
    waits = [asyncio.create_task(p.ready()) for p in procs]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
