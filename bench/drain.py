"""Backlog drain: start a service on a backlog and time it until every effect is visible: its
consumer groups have committed every record that was waiting (offsets are committed only
after the effects' transaction, so a committed record's effects are in the database), and its
outbox relay has published every event those effects queued."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import psutil
from aiokafka.errors import KafkaError

from bench import profile, side_work
from bench.kafka_offsets import Offsets
from bench.stack import POLL_S, Proc, RssSampler, now, stack_cpu_seconds
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
# What a drain measures: the consumer groups (by handler name, after the service's group
# prefix) that consume the backlog, and the topics each is timed on. A service's other groups
# (complaints' `patients` reading every registration for merges, `roster`, `surveys`...) run
# beside it as side work: their records are reported, not waited for, and never counted.
MEASURED: dict[str, dict[str, tuple[str, ...]]] = {
    # One group for both (until 2026-12-06: one a topic, as in BEFORE_ONE_GROUP)
    "followup": {"events": (topics.DISCHARGES, topics.REGISTRATIONS)},
    "complaints": {"complaints": (topics.COMPLAINTS_IN,)},
    "notifications": {"notify": CONSUMED["notifications"]},
    # One group for all its topics (up to release 0.14: one a topic, named as in METRICS_TOPICS)
    "metrics": {"events": CONSUMED["metrics"]},
}  # fmt: skip
# Metrics' backlog topics by the name of the consumer that read each until release 0.14
# (bench.metrics_topics drains them one at a time).
METRICS_TOPICS: dict[str, str] = {
    "registrations": topics.REGISTRATIONS, "discharges": topics.DISCHARGES,
    "complaints_in": topics.COMPLAINTS_IN, "followup_tasks": topics.FOLLOWUP_TASKS,
    "complaint_cases": topics.COMPLAINT_CASES, "notifications": topics.NOTIFICATIONS,
}  # fmt: skip
# Consumer groups held still during a drain: each starts at the end of its topics (committed
# before the service starts), so that what it would read beside the drain does not compete
# with it. Complaints' `patients` group reads every registration, only to follow patient
# merges: 200,000 records beside its ~8,500 complaints, which the raw baseline it is compared
# with does not read. The small side groups (the roster, the calendar, which the drained
# service's decisions depend on) run and are reported.
HELD: dict[str, dict[str, tuple[str, ...]]] = {"complaints": {"patients": (topics.REGISTRATIONS,)}}


# The groups of the services that now have one group for their topics, as they were before
# it: one a topic, named by the handler names their `replaces` keeps.
BEFORE_ONE_GROUP: dict[str, dict[str, tuple[str, ...]]] = {
    "metrics": {name: (topic,) for name, topic in METRICS_TOPICS.items()},
    "followup": {"discharges": (topics.DISCHARGES,), "registrations": (topics.REGISTRATIONS,)},
}


@contextlib.contextmanager
def measuring_code_of(service: str, env: dict[str, str]) -> Iterator[None]:
    """Within it, a drain of `service` waits for the groups of the code `env` runs: metrics
    of release 0.14 or before, and follow-up before 2026-12-06 (an extracted revision on
    `env`'s PYTHONPATH whose app.py takes over no groups), had one group a topic
    (BEFORE_ONE_GROUP)."""
    app = next(
        (
            Path(entry) / service / "app.py"
            for entry in env.get("PYTHONPATH", "").split(os.pathsep)
            if entry and (Path(entry) / service / "app.py").exists()
        ),
        None,
    )
    if service not in BEFORE_ONE_GROUP or app is None or "replaces=" in app.read_text():
        yield
        return
    measured = MEASURED[service]
    MEASURED[service] = BEFORE_ONE_GROUP[service]
    try:
        yield
    finally:
        MEASURED[service] = measured


# An event of the service's outbox not yet published (every service has one, in its schema).
_UNPUBLISHED = "SELECT EXISTS (SELECT 1 FROM {schema}.outbox WHERE published_at IS NULL)"


@dataclass
class DrainResult:
    service: str
    instances: int
    events: int
    seconds: float  # from launching the process(es) to the last commit
    startup_s: float  # from launching to the first commit (`_started`)
    complete: bool  # the whole backlog drained (else stopped at the time cap)
    cpu_s: float = 0.0  # CPU seconds (user + system) the processes used once ready
    runs: list[DrainResult] = field(default_factory=list)  # every run, when it ran several
    started_at: str = ""  # UTC, ISO 8601: the clock of the run
    # side work during the drain: records the service's other consumer groups committed,
    # job passes and hand-overs from its /metrics (side_work.py)
    side_records: dict[str, int] = field(default_factory=dict)
    side_work: dict[str, int] = field(default_factory=dict)
    load_average_1m: float = 0.0  # at the end of the drain
    stack_cpu_s: dict[str, float] = field(default_factory=dict)  # PostgreSQL's, Kafka's
    # Records the measured groups had committed when the clock started (`_started`: at the
    # first commit seen): their time and CPU are not measured, so they are counted neither in
    # the rate nor in the CPU per event.
    committed_at_start: int = 0

    @property
    def measured_events(self) -> int:
        """The events committed within the measured window."""
        return self.events - self.committed_at_start

    def cpu_ms_per_event_by_process(self) -> dict[str, float]:
        """Where the drain's CPU went, per event: the service, PostgreSQL, Kafka."""
        by = {"service": self.cpu_s, **self.stack_cpu_s}
        n = self.measured_events
        return {k: round(1000 * v / n, 3) if n > 0 else 0.0 for k, v in by.items()}

    @property
    def cpu_ms_per_event(self) -> float:
        n = self.measured_events
        return 1000 * self.cpu_s / n if n > 0 else 0.0

    @property
    def rate(self) -> float:
        """Events per second once running (start-up, and what was committed during it,
        excluded)."""
        busy = self.seconds - self.startup_s
        return self.measured_events / busy if busy > 0 else 0.0

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
    """Start `procs` (instances of one service) and wait until their measured groups caught
    up and their outbox is published."""
    db = await asyncpg.connect(database_url)
    try:
        async with Offsets(bootstrap) as off:
            return await _drain(off, db, procs, sampler, group_prefix, timeout, profile_as)
    finally:
        await db.close()


async def _committed(off: Offsets, prefix: str, service: str) -> int:
    """Records the measured groups have committed on their measured topics."""
    total = 0
    for handler, handler_topics in MEASURED[service].items():
        total += await off.committed_on(f"{prefix}{handler}", handler_topics)
    return total


async def _side_records(off: Offsets, prefix: str, service: str) -> dict[str, int]:
    """Offsets the service's other groups (those not measured) have committed (a drain
    reports what they committed during it)."""
    out = {}
    for group in await off.groups(prefix):
        handler = group.removeprefix(prefix)
        if handler not in MEASURED[service]:
            out[handler] = await off.committed_on(group)
    return {k: v for k, v in out.items() if v}


async def _drain(
    off: Offsets, db: asyncpg.Connection, procs: list[Proc], sampler: RssSampler,
    prefix: str, timeout: float, profile_as: str | None,
) -> DrainResult:  # fmt: skip
    service = procs[0].name
    target = sum([await off.end_total(t) for t in MEASURED[service].values()])
    for handler, held in HELD.get(service, {}).items():
        await off.commit_ends(f"{prefix}{handler}", held)
    side_before = await _side_records(off, prefix, service)  # the held groups' ends
    held_measured = set(HELD.get(service, {})) & set(MEASURED[service])  # (bench.metrics_topics)
    held_ends = await _committed(off, prefix, service) if held_measured else 0
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    launched = now()
    for proc in procs:  # all instances at once: they share the backlog from the start
        proc.start()
        sampler.watch(proc)
    start = await _started(off, procs, prefix, held_ends, target)
    ready, cpu_at_ready, stack_at_ready = start.at, start.cpu_s, start.stack_cpu_s
    if profile_as is not None and procs[0].process is not None:
        profile.start(procs[0].process.pid, profile_as)
    progress = _Progress(sampler, procs)
    progress.passed(0)  # the RSS once started, before the backlog
    done = 0
    while now() < ready + timeout:
        done = await _committed(off, prefix, service)
        progress.passed(done)
        if done >= target and not await db.fetchval(_UNPUBLISHED.format(schema=service)):
            break
        await asyncio.sleep(POLL_S)
    finished = now()
    cpu = _cpu_seconds(procs) - cpu_at_ready
    stack_cpu = {k: v - stack_at_ready[k] for k, v in stack_cpu_seconds(procs[0].cfg).items()}
    for proc in procs:
        sampler.mark(proc.label, "rss_at_end")
        sampler.record(proc.label, done)
    side = await side_work.since_launch(procs)
    side_records = _more(side_before, await _side_records(off, prefix, service))
    # The rate counts from the moment the (first) process was launched: start-up included.
    return DrainResult(
        service, len(procs), done, finished - launched, ready - launched, done >= target, cpu,
        started_at=started_at, side_records=side_records,
        side_work=side, load_average_1m=os.getloadavg()[0], stack_cpu_s=stack_cpu,
        committed_at_start=start.committed - held_ends,
    )  # fmt: skip


@dataclass
class _Start:
    """Where a drain's clock starts: when, the processes' and the stack's CPU then, and the
    records the measured groups had committed by then."""

    at: float
    cpu_s: float
    stack_cpu_s: dict[str, float]
    committed: int


async def _started(
    off: Offsets, procs: list[Proc], prefix: str, held_ends: int, target: int
) -> _Start:
    """The measured groups' first commit: the drain's clock starts there, and what that
    commit holds is left out of the rate. A service starts its consumers before its HTTP
    server answers: metrics' nine groups were assigned within 0.8 s, and /readyz answered
    1.3 s after the first, by when 4,000-17,000 of a 50,000-event backlog were committed
    (timed from /readyz, they were counted in the rate, their time was not). Timed from
    /readyz when that came first (until session 20), the batch in hand then was counted
    whole but timed in part: follow-up's 20,000-event drains came out ~11,500/s so against
    ~8,500/s timed from the commit (docs/bench.md, session 20). From /readyz still when the
    first commit holds the whole backlog (one batch: nothing would be left to time), when
    there is no backlog, or when no commit comes within FIRST_COMMIT_WAIT_S of it. With
    several measured groups (metrics' six) the clock starts at the first group's commit: the
    other groups' first batches, under way then, are still counted whole."""
    service = procs[0].name
    ready = asyncio.create_task(_first_ready(procs))
    at_ready: list[_Start] = []  # set the moment /readyz answers (the task's callback)

    def answered(_: object) -> None:
        cpu, stack = _cpu_seconds(procs), stack_cpu_seconds(procs[0].cfg)
        at_ready.append(_Start(now(), cpu, stack, held_ends))

    ready.add_done_callback(answered)
    try:
        while not at_ready or (target > held_ends and now() < at_ready[0].at + FIRST_COMMIT_WAIT_S):
            with contextlib.suppress(KafkaError):  # no group on a fresh broker yet
                committed = await _committed(off, prefix, service)
                if committed > held_ends:
                    if committed >= target and at_ready:
                        return at_ready[0]
                    return _Start(
                        now(), _cpu_seconds(procs), stack_cpu_seconds(procs[0].cfg), committed
                    )
            if ready.done():
                await asyncio.sleep(POLL_S)
            else:
                await asyncio.wait({ready}, timeout=POLL_S)
    finally:
        ready.cancel()
    return at_ready[0]


# How long after /readyz a drain's clock waits for the first commit (`_started`).
FIRST_COMMIT_WAIT_S = 60.0


# Resident memory is recorded each time a drain passes another SERIES_STEP events, and marked
# at 100,000 ("flat after 100,000": the RSS at the end minus the RSS there).
SERIES_STEP = 20_000
MARK_AT = 100_000


@dataclass
class _Progress:
    """Records the processes' RSS as a drain's committed count passes each step."""

    sampler: RssSampler
    procs: list[Proc]
    next_step: int = 0
    marked: bool = False

    def passed(self, done: int) -> None:
        if done >= self.next_step:
            for proc in self.procs:
                self.sampler.record(proc.label, done)
            self.next_step = (done // SERIES_STEP + 1) * SERIES_STEP
        if not self.marked and done >= MARK_AT:
            for proc in self.procs:
                self.sampler.mark(proc.label, "rss_at_100k")
            self.marked = True


def _more(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in after.items() if n > before.get(k, 0)}


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
