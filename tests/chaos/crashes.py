"""Crash cases of the chaos suite, one fault each while the simulator streams: PostgreSQL
stopped with `pg_ctl -m immediate` (a crash: no checkpoint, recovery from the WAL at the next
start), the Kafka broker killed with SIGKILL, a consumer frozen with SIGSTOP for longer than
its session timeout (the group moves on without it; on SIGCONT it comes back as a zombie with
a batch in hand), and on a three-broker cluster the broker leading most partitions killed,
then, once it is back in every ISR, a second one. The effects must be exactly the expected
ones (`effects.actual_and_checks`), and every service process must still be the one started
at the beginning: the services ride over each fault without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devstack import kafka, postgres, procs
from hospital_shared.topics import all_topics
from tests.chaos import processes as p
from tests.chaos.effects import Check
from tests.chaos.scenario import SERVICES, ChaosPlan, ChaosResult, build_stream, settled_checks
from tests.chaos.scenario import _Clock as Clock
from tests.chaos.scenario import _stream as stream

# FastStream's default consumer session timeout (10 s): a consumer silent for longer is
# dropped from its group, and its partitions go to the other members.
SESSION_TIMEOUT_S = 10.0


def plan(events: int, rate: float = 15.0, converge_timeout_s: float = 400.0) -> ChaosPlan:
    """A stream of `events` (no fault of the main run, the oversized record included: the case
    brings its own, and it never sends that record, so it must not expect its dead letters)."""
    return ChaosPlan(
        events=events, rate=rate, kill_rounds=0, restart_postgres=False, restart_kafka=False,
        kannel_stop_s=0, rebalance_kills=False, converge_timeout_s=converge_timeout_s,
        oversized_record=False,
    )  # fmt: skip


@dataclass
class Run:
    """What a fault works with while the stream runs."""

    cfg: Any
    env: dict[str, str]
    main: dict[str, p.ServiceProcess]
    clock: Clock
    rng: random.Random
    extra: list[p.ServiceProcess] = field(default_factory=list)

    async def pause(self, low: float, high: float) -> None:
        await asyncio.sleep(self.rng.uniform(low, high))


Fault = Callable[[Run], Awaitable[None]]


async def run_case(
    cfg: Any, env: dict[str, str], fault: Fault, chaos: ChaosPlan, *, seed: int
) -> ChaosResult:
    """Start the five services, stream, inject `fault` mid-stream, then wait for the effects."""
    run_id = f"X{uuid.uuid4().hex[:5].upper()}"
    run = Run(
        cfg, env, {n: p.ServiceProcess(cfg, n) for n in SERVICES}, Clock(), random.Random(seed)
    )
    fakesmsc_log = cfg.operator_log
    offset = fakesmsc_log.stat().st_size if fakesmsc_log.exists() else 0
    _, events = build_stream(chaos, run_id, seed)
    try:
        await p.start_all(list(run.main.values()))
        pids = {name: proc.process.pid for name, proc in run.main.items() if proc.process}
        run.clock.log(f"five services up; streaming {len(events)} events at {chaos.rate:g}/s")
        t0 = datetime.now(UTC)
        streaming = asyncio.create_task(stream(env, events, chaos.rate))
        await run.pause(3, 5)
        await fault(run)
        await streaming
        checks = await settled_checks(cfg, env, events, chaos, run.clock, run_id, offset, t0)
        checks += _same_processes(run, pids)
        return ChaosResult(run.clock.faults, checks, len(events))
    finally:
        for proc in [*run.extra, *run.main.values()]:
            proc.stop()


def _same_processes(run: Run, pids: dict[str, int]) -> list[Check]:
    checks = []
    for name, proc in run.main.items():
        same = proc.alive() and proc.process is not None and proc.process.pid == pids[name]
        checks.append(
            Check(f"{name}: the same process throughout", "yes", "yes" if same else "no", same)
        )
    return checks


# --- the faults ------------------------------------------------------------------------


async def postgres_crash(run: Run) -> None:
    """`pg_ctl stop -m immediate`: every backend is killed, nothing is flushed or
    checkpointed; the next start replays the WAL. Down for a few seconds, as a crashed
    server restarted by its supervisor."""
    run.clock.log("PostgreSQL: crash (pg_ctl stop -m immediate)")
    await asyncio.to_thread(postgres.crash, run.cfg)
    await run.pause(4, 6)
    await asyncio.to_thread(postgres.start_postgres, run.cfg)
    run.clock.log("PostgreSQL: recovered and accepting connections")


async def kafka_sigkill(run: Run) -> None:
    """SIGKILL the (single) broker: no controlled shutdown, unflushed log tails recovered at
    the next start; down for several seconds, then started again."""
    node = 1
    await asyncio.to_thread(kill_node, run.cfg, node)
    run.clock.log("Kafka: broker killed with SIGKILL")
    await run.pause(6, 9)
    await asyncio.to_thread(kafka.up, run.cfg)
    run.clock.log("Kafka: broker started again, serving every topic")


async def consumer_sigstop(run: Run) -> None:
    """A second instance of follow-up and of notifications joins each group; then the first
    instances are frozen (SIGSTOP) for twice the session timeout: the group drops them and the
    twins take their partitions over. SIGCONT: the frozen ones wake with whatever batch (and,
    for notifications, SMS sending) they were in the middle of, and must not double it."""
    frozen = [run.main["followup"], run.main["notifications"]]
    for proc in frozen:
        twin = p.ServiceProcess(run.cfg, proc.name, port_shift=100).start()
        run.extra.append(twin)
        await twin.ready()
    run.clock.log("followup, notifications: a second instance of each is ready")
    for proc in frozen:
        _signal_group(proc, signal.SIGSTOP)
    seconds = 2 * SESSION_TIMEOUT_S
    run.clock.log(f"followup, notifications (first instances): SIGSTOP for {seconds:g}s")
    await asyncio.sleep(seconds)
    for proc in frozen:
        _signal_group(proc, signal.SIGCONT)
    run.clock.log("followup, notifications: SIGCONT")
    for proc in frozen:
        await proc.ready()
    run.clock.log("followup, notifications: the woken instances are ready again")


def _signal_group(proc: p.ServiceProcess, sig: signal.Signals) -> None:
    assert proc.process is not None
    os.killpg(proc.process.pid, sig)


async def cluster_leader_kills(run: Run) -> None:
    """Three brokers, topics with replication 3 and min.insync.replicas=2: SIGKILL the broker
    leading most partitions; restart it once the stream has gone on without it, and wait until
    it is back in every ISR; then SIGKILL the broker leading most partitions then, and restart
    it too. At most one broker is down at a time, so acks=all producers never stop."""
    for round_ in (1, 2):
        node, led = await leading_node(run.cfg)
        await asyncio.to_thread(kill_node, run.cfg, node)
        run.clock.log(f"Kafka: node {node} (leader of {led} partitions) killed with SIGKILL")
        await run.pause(10, 14)
        await asyncio.to_thread(kafka.start_node, run.cfg, node)
        await wait_in_sync(run.cfg)
        run.clock.log(f"Kafka: node {node} started again and back in every ISR (round {round_})")
        await run.pause(2, 4)


# --- Kafka helpers ---------------------------------------------------------------------


def kill_node(cfg: Any, node: int) -> None:
    """SIGKILL Kafka node `node` (its whole process group) and wait until it is gone."""
    pid = procs.running(cfg, kafka.node_name(node))
    assert pid is not None, f"Kafka node {node} does not run"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    procs.terminate_groups([pid], timeout=10)


async def _describe(cfg: Any) -> list[dict[str, Any]]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=cfg.kafka_bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        described: list[dict[str, Any]] = await admin.describe_topics(
            [t.name for t in all_topics()]
        )
        return described
    finally:
        await admin.close()


async def leading_node(cfg: Any) -> tuple[int, int]:
    """(node, how many partitions of the platform's topics it leads) for the top leader."""
    leaders = Counter(
        part["leader"] for topic in await _describe(cfg) for part in topic["partitions"]
    )
    node, count = leaders.most_common(1)[0]
    return int(node), count


async def wait_in_sync(cfg: Any, timeout: float = 180.0) -> None:
    """Until every partition of the platform's topics has all its replicas in sync."""
    deadline = time.monotonic() + timeout
    lagging = -1
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            described = await _describe(cfg)
            lagging = sum(
                len(part["isr"]) < len(part["replicas"])
                for topic in described
                for part in topic["partitions"]
            )
            if lagging == 0:
                return
        await asyncio.sleep(1)
    raise TimeoutError(f"{lagging} partitions still under-replicated after {timeout:.0f}s")
