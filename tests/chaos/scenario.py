"""One chaos run: the simulator streams while faults are injected; at the end the effects
must be exactly the expected ones (no loss, no duplicates).

Used by `test_chaos.py` (short form in `make test`, full form with CHAOS_FULL=1).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from hospital_shared.topics import COMPLAINTS_IN
from simulator.expected import expected_effects
from simulator.hospital import Rates
from simulator.publish import publish_to_kafka, publish_via_registration
from simulator.stream import SimConfig, SimEvent, generate
from tests.chaos import processes as p
from tests.chaos.effects import Check, actual_and_checks, oversized_check
from tests.factories import BROKER_MESSAGE_MAX_BYTES, OVERSIZED, oversized_complaint
from tests.kafka_tools import publish

SERVICES = ("registration", "followup", "complaints", "notifications", "metrics")


@dataclass(frozen=True)
class ChaosPlan:
    events: int
    rate: float  # events per second, both routes together
    kill_rounds: int  # kill -9 every service this many times
    restart_postgres: bool
    restart_kafka: bool
    kannel_stop_s: float
    # These consumers get a second instance, and the first is killed mid-rebalance.
    rebalance_kills: tuple[str, ...]
    converge_timeout_s: float = 300.0
    # A complaint just under the broker's size limit amid the stream (issue 17): too big to
    # dead-letter whole, it must go to the DLQ as a reference and block nothing.
    oversized_record: bool = True


# The short form (make test) restarts Kafka too (20 s on the loaded 2-core machine) and
# kills one consumer mid-rebalance; the full form does every consumer.
SHORT = ChaosPlan(
    events=400, rate=12.0, kill_rounds=1, restart_postgres=True, restart_kafka=True,
    kannel_stop_s=8.0, rebalance_kills=("followup",), converge_timeout_s=240.0,
)  # fmt: skip
FULL = ChaosPlan(
    events=6000, rate=30.0, kill_rounds=2, restart_postgres=True, restart_kafka=True,
    kannel_stop_s=60.0, rebalance_kills=p.CONSUMERS, converge_timeout_s=600.0,
)  # fmt: skip


@dataclass
class ChaosResult:
    faults: list[tuple[str, str]]
    checks: list[Check]
    events: int

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


class _Clock:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.faults: list[tuple[str, str]] = []

    def log(self, what: str) -> None:
        self.faults.append((f"{time.monotonic() - self.started:6.1f}s", what))
        print(f"[chaos {time.monotonic() - self.started:6.1f}s] {what}", flush=True)


def build_stream(plan: ChaosPlan, run_id: str, seed: int) -> tuple[SimConfig, list[SimEvent]]:
    days = 0.15
    hospitals = 2
    visits = int(plan.events / (1.12 * hospitals * days)) + 1
    cfg = SimConfig(
        start=datetime.now(UTC) - timedelta(hours=3),
        seed=seed,
        days=days,
        hospitals=hospitals,
        rates=replace(Rates(), visits_per_day=visits, complaints_per_visit=0.02),
        run_id=run_id,
        department_tag=run_id.lower(),
        max_events=plan.events,
    )
    return cfg, generate(cfg)


async def _stream(env: dict[str, str], events: list[SimEvent], rate: float) -> None:
    """Hospital 1 speaks REST to the registration gateway; hospital 2 publishes to Kafka."""
    via_gateway = [e for e in events if e.hospital == 1]
    direct = [e for e in events if e.hospital != 1]
    share = len(via_gateway) / max(1, len(events))
    await asyncio.gather(
        publish_via_registration(
            env["REGISTRATION_URL"], env["TOKEN_INTEGRATION"], via_gateway,
            rate=rate * share, batch=20,
        ),
        publish_to_kafka(env["KAFKA_BOOTSTRAP_SERVERS"], direct, rate=rate * (1 - share)),
    )  # fmt: skip


async def _wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} did not come up")


async def run_chaos(cfg: Any, env: dict[str, str], plan: ChaosPlan, *, seed: int) -> ChaosResult:
    rng = random.Random(seed)
    run_id = f"X{uuid.uuid4().hex[:5].upper()}"
    clock = _Clock()
    main = {name: p.ServiceProcess(cfg, name) for name in SERVICES}
    extra: list[p.ServiceProcess] = []
    fakesmsc_log = cfg.operator_log
    offset = fakesmsc_log.stat().st_size if fakesmsc_log.exists() else 0
    _, events = build_stream(plan, run_id, seed)
    try:
        await p.start_all(list(main.values()))
        clock.log(f"five services up; streaming {len(events)} events at {plan.rate:g}/s "
                  f"(run {run_id}, 2 hospitals: REST gateway + Kafka)")  # fmt: skip
        t0 = datetime.now(UTC)
        streaming = asyncio.create_task(_stream(env, events, plan.rate))
        if plan.oversized_record:
            await _publish_oversized(env, run_id)
            clock.log(f"a {OVERSIZED:,}-byte complaint published amid the stream")

        async def pause(low: float, high: float) -> None:
            await asyncio.sleep(rng.uniform(low, high))

        await pause(2, 4)
        for round_ in range(plan.kill_rounds):
            for name in rng.sample(SERVICES, len(SERVICES)):
                proc = main[name]
                proc.kill9()
                clock.log(f"kill -9 {name} (round {round_ + 1})")
                await pause(0.5, 3)
                proc.start()
                await proc.ready()
                clock.log(f"{name} restarted and ready")
                await pause(0.5, 2)
        if plan.restart_postgres:
            clock.log("PostgreSQL: restart (pg_ctl stop -m fast, start)")
            await asyncio.to_thread(p.restart_postgres, cfg)
            clock.log("PostgreSQL: up again")
            await pause(1, 3)
        if plan.restart_kafka:
            clock.log("Kafka broker: restart (SIGTERM, start, wait for metadata)")
            await asyncio.to_thread(p.restart_kafka, cfg)
            clock.log("Kafka broker: up again")
            await pause(1, 3)
        if plan.kannel_stop_s:
            await asyncio.to_thread(p.stop_kannel, cfg)
            clock.log(f"Kannel: bearerbox, smsbox, fakesmsc stopped for {plan.kannel_stop_s:g}s")
            await asyncio.sleep(plan.kannel_stop_s)
            await asyncio.to_thread(p.start_kannel, cfg)
            clock.log("Kannel: up again")
        if plan.rebalance_kills:
            for name in plan.rebalance_kills:
                twin = p.ServiceProcess(cfg, name, port_shift=100).start()
                extra.append(twin)
                await _wait_http(twin.url)  # its consumers are joining: the group rebalances
                main[name].kill9()
                clock.log(
                    f"{name}: second instance joined the group, first killed -9 mid-rebalance"
                )
                await twin.ready()
                main[name].start()
                await main[name].ready()
                clock.log(f"{name}: two instances running again")
        await streaming
        checks = await settled_checks(cfg, env, events, plan, clock, run_id, offset, t0)
        for proc in [*main.values(), *extra]:
            if not proc.alive():
                checks.append(Check(f"{proc.label} still running", "yes", "no", False))
        return ChaosResult(clock.faults, checks, len(events))
    finally:
        for proc in [*extra, *main.values()]:
            proc.stop()


def _oversized_id(run_id: str) -> str:
    return f"{run_id}-OVERSIZED"  # not `<run>H...`: no effect of the run is expected of it


async def _publish_oversized(env: dict[str, str], run_id: str) -> None:
    marker = _oversized_id(run_id)
    await publish(
        env["KAFKA_BOOTSTRAP_SERVERS"],
        COMPLAINTS_IN,
        [(marker, oversized_complaint(marker))],
        max_request_size=2 * BROKER_MESSAGE_MAX_BYTES,
    )


async def settled_checks(
    cfg: Any, env: dict[str, str], events: list[SimEvent], plan: ChaosPlan, clock: _Clock,
    run_id: str, offset: int, t0: datetime,
) -> list[Check]:  # fmt: skip
    """Once the stream has been sent: the expected effects of `events`, and the checks of the
    actual ones against them, polled until they agree or the plan's timeout passes."""
    t1 = datetime.now(UTC)
    clock.log(f"stream finished ({len(events)} events)")
    expected = expected_effects(
        events,
        processed_from=t0,
        processed_until=t1 + timedelta(seconds=plan.converge_timeout_s),
        notifications_env=p.SERVICE_ENV["notifications"],
    )
    checks = await _converge(cfg, env, expected, run_id, offset, t0, plan)
    clock.log("effects checked")
    return checks


async def _converge(
    cfg: Any, env: dict[str, str], expected: Any, run_id: str, offset: int,
    t0: datetime, plan: ChaosPlan,
) -> list[Check]:  # fmt: skip
    """Poll the effects until they match (or the plan's timeout passes); return the last
    checks."""
    deadline = time.monotonic() + plan.converge_timeout_s
    while True:
        checks = await actual_and_checks(
            env["DATABASE_URL"], env["KAFKA_BOOTSTRAP_SERVERS"], expected,
            run_id=run_id, department_tag=run_id.lower(),
            fakesmsc_log=cfg.operator_log, fakesmsc_offset=offset, sent_before=t0,
        )  # fmt: skip
        if plan.oversized_record:
            checks.append(
                await oversized_check(env["KAFKA_BOOTSTRAP_SERVERS"], _oversized_id(run_id))
            )
        if all(c.ok for c in checks) or time.monotonic() > deadline:
            return checks
        await asyncio.sleep(3)
