"""Scaling: follow-up and notifications draining one backlog with 1, 2 and 3 instances of the
service (one consumer group, separate processes with their own ports) on the three-broker
cluster (DEVSTACK_KAFKA_BROKERS=3: replication 3, min.insync.replicas 2), each step with the
machine's CPU use beside it, and the raw client on the same topics in the same round.

    BENCH_PORT_SHIFT=18000 uv run python -m bench.scaling

Every topic has 12 partitions (hospital_shared.topics), so three instances get four of each
topic. A step is timed from the moment every instance is ready (its consumers assigned: the
group has rebalanced over all of them) to the moment the backlog is committed and the
service's outbox published; the events committed before that (while the later instances
were still starting) are not counted. Over the same window: the machine's busy share of all
cores (/proc/stat, whoever ran), the CPU of the service's instances, PostgreSQL and the
three Kafka brokers (in cores: CPU seconds per second of the window), and what is left of the
busy share for everything else (other people's work on a shared machine, the bench itself).

BENCH_EVENTS (60,000) sets the backlog, BENCH_SCALING_SERVICES the services,
BENCH_SCALING_INSTANCES the steps (1,2,3), BENCH_DRAIN_CAP_S the time cap of a step.
Results go to bench/scaling_results.json; the stack is taken down at the end unless
BENCH_KEEP_STACK is set.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.baseline import raw_drain
from bench.cpu_window import Meter
from bench.drain import _UNPUBLISHED, CONSUMED, MEASURED, _committed
from bench.kafka_offsets import Offsets
from bench.run import backlog, drain_env, drop_schemas, settle, wait_outbox_empty
from bench.side_work import HELD_FOLLOWUP_START, since_launch
from bench.stack import (
    POLL_S,
    PORT_SHIFT,
    Proc,
    bench_config,
    fresh_stack,
)
from devstack import StackConfig
from simulator.publish import publish_to_kafka
from simulator.stream import generate, summarise

RESULTS = Path(__file__).resolve().parent / "scaling_results.json"
BROKERS = 3


def _setting(name: str, default: str) -> list[str]:
    return [x for x in os.environ.get(name, default).split(",") if x]


async def scaled_drain(
    cfg: StackConfig, bootstrap: str, database_url: str, name: str, n: int, cap: float
) -> dict[str, Any]:
    """`name`'s backlog drained by `n` instances in a new consumer group, from an empty
    schema; timed from every instance ready to the last commit with the outbox published."""
    settled = await settle(cfg)
    await drop_schemas(database_url, name)
    group = f"{name}-{n}x-{time.time_ns() // 1_000_000}"
    held = HELD_FOLLOWUP_START if name == "followup" else {}
    env = {**drain_env(name), **held, f"{name.upper()}_CONSUMER_GROUP": group}
    procs = [Proc(cfg, name, port_shift=100 * i, env=env) for i in range(n)]
    db = await asyncpg.connect(database_url)
    try:
        async with Offsets(bootstrap) as off:
            target = sum([await off.end_total(t) for t in MEASURED[name].values()])
            launched = time.monotonic()
            for p in procs:
                p.start()
            await asyncio.gather(*(p.ready() for p in procs))
            startup = time.monotonic() - launched
            before = await _committed(off, f"{group}.", name)
            meter = Meter(cfg, procs)
            done = before
            while time.monotonic() < meter.started + cap:
                done = await _committed(off, f"{group}.", name)
                if done >= target and not await db.fetchval(_UNPUBLISHED.format(schema=name)):
                    break
                await asyncio.sleep(POLL_S)
            window = meter.stop()
        await wait_outbox_empty(database_url, name)
        # what the instances did beside their consumers (follow-up: each instance's pass of
        # its held jobs at start-up, the later ones' inside the window)
        side = await since_launch(procs)
    finally:
        await db.close()
        for p in procs:
            p.stop()
    return {
        "instances": n,
        **window.summary(done - before),
        "committed_before_all_ready": before,
        "backlog_events": target,
        "complete": done >= target,
        "startup_seconds_all_ready": round(startup, 2),
        "settled_seconds": settled,
        "side_work": side,
    }


async def raw_round(
    cfg: StackConfig, bootstrap: str, database_url: str, name: str
) -> dict[str, Any]:
    """The raw client (bench/baseline.py) on `name`'s topics, with the same CPU figures."""
    await settle(cfg)
    meter = Meter(cfg)
    events, seconds = await raw_drain(bootstrap, database_url, CONSUMED[name], name)
    window = meter.stop()
    # its rate counts from its assignment (as the service's from /readyz), the CPU window
    # includes its group join
    return {**window.summary(events), "events_per_s": round(events / seconds)}


def _line(label: str, r: dict[str, Any]) -> str:
    cores = ", ".join(f"{k} {v:.2f}" for k, v in r["cores_by_process"].items())
    return (
        f"  {label}: {r['events']} events in {r['seconds']:.1f}s = {r['events_per_s']}/s;"
        f" machine busy {r['machine_busy_share']:.0%} ({r['machine_busy_cores']:.2f} cores:"
        f" {cores}, other {r['other_cores']:.2f}); load {r['load_average_1m']:.1f}"
        + (f"; beside it: {r['side_work']}" if r.get("side_work") else "")
    )


async def scaling(n_events: int, cap: float) -> dict[str, Any]:
    cfg = dataclasses.replace(bench_config(), kafka_brokers=BROKERS)
    print(f"bench stack {cfg.state_dir} (ports + {PORT_SHIFT}), {BROKERS} Kafka brokers")
    env = await asyncio.to_thread(fresh_stack, cfg)
    bootstrap, database_url = env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"]
    results: dict[str, Any] = {
        "when_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "kafka_brokers": BROKERS,
        "load_average_1m_start": round(os.getloadavg()[0], 2),
    }
    async with Offsets(bootstrap) as off:
        results["partitions"] = {
            t: len(await off.partitions(t)) for name in CONSUMED for t in CONSUMED[name]
        }
    events = generate(backlog(n_events))
    results["backlog_mix"] = summarise(events)
    await publish_to_kafka(bootstrap, events, rate=0)
    del events
    print(f"backlog of {n_events} events published; partitions {results['partitions']}")
    for name in _setting("BENCH_SCALING_SERVICES", "followup,notifications"):
        steps = []
        for n in (int(x) for x in _setting("BENCH_SCALING_INSTANCES", "1,2,3")):
            steps.append(await scaled_drain(cfg, bootstrap, database_url, name, n, cap))
            print(_line(f"{name} x{n}", steps[-1]))
        raw = await raw_round(cfg, bootstrap, database_url, name)
        print(_line(f"{name} raw client", raw))
        results[name] = {"instances": steps, "raw_client": raw}
    results["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    return results


def main() -> None:
    n_events = int(os.environ.get("BENCH_EVENTS", "60000"))
    cap = float(os.environ.get("BENCH_DRAIN_CAP_S", "240"))
    try:
        results = asyncio.run(scaling(n_events, cap))
        RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        print(f"written {RESULTS}")
    finally:
        if not os.environ.get("BENCH_KEEP_STACK"):
            import devstack

            devstack.down(dataclasses.replace(bench_config(), kafka_brokers=BROKERS))


if __name__ == "__main__":
    main()
