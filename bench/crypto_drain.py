"""What encryption at rest costs a service's backlog drain: follow-up, complaints and
notifications each drain the same backlog with encryption on and off (DATA_ENCRYPTION_ENABLED),
interleaved (on, off, on, off, ...) in one run, so that both see the machine in the same
state; every run from an empty schema in a consumer group of its own.

    BENCH_EVENTS=10000 BENCH_ROUNDS=4 uv run python -m bench.crypto_drain

Runs on the bench stack (`.stack-bench`, ports + BENCH_PORT_SHIFT) from empty data and writes
bench/crypto_drain_results.json. The producers (follow-up, complaints) run first: their events
are part of notifications' backlog, which is then the same for each of its runs. The backlog
has more complaints than `make bench`'s (BENCH_COMPLAINTS_PER_VISIT, 0.5): with its 0.05 the
complaints drain is a few hundred events, over before it can be timed. Only the groups that
consume the drained topics are counted (bench/drain.py's MEASURED)."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.run import backlog, console, fresh_drain
from bench.stack import bench_config, fresh_stack
from simulator.publish import publish_to_kafka
from simulator.stream import generate, summarise

RESULTS = Path(__file__).resolve().parent / "crypto_drain_results.json"
SERVICES = ("followup", "complaints", "notifications")
MODES = {"on": "true", "off": "false"}


async def one_run(
    cfg: Any, env: dict[str, str], name: str, mode: str, i: int, cap: float
) -> dict[str, Any]:
    """One drain of `name`'s backlog from an empty schema, encryption `mode`."""
    bootstrap, database_url = env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"]
    group = f"{name}-crypto-{mode}-{i}"
    extra = {"DATA_ENCRYPTION_ENABLED": MODES[mode]}
    d, _ = await fresh_drain(cfg, bootstrap, database_url, name, group, extra, cap)
    console.print(
        f"  {name} encryption {mode} (run {i}): {d.events} events, {d.rate:.0f}/s once running,"
        f" {d.cpu_ms_per_event:.2f} CPU ms/event{'' if d.complete else ' [time cap reached]'}"
    )
    return {"events": d.events, "events_per_s": round(d.rate), "complete": d.complete,
            "cpu_ms_per_event": round(d.cpu_ms_per_event, 3),
            "load_average_1m": round(os.getloadavg()[0], 1)}  # fmt: skip


def summary(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Median rate and CPU per event of each mode, and what encryption costs in them."""
    med = {
        mode: {
            "median_events_per_s": statistics.median(r["events_per_s"] for r in rs),
            "median_cpu_ms_per_event": statistics.median(r["cpu_ms_per_event"] for r in rs),
        }
        for mode, rs in runs.items()
    }
    on, off = med["on"], med["off"]
    return {
        **med,
        "rate_on_over_off": round(on["median_events_per_s"] / off["median_events_per_s"], 3),
        "cpu_ms_per_event_added": round(
            on["median_cpu_ms_per_event"] - off["median_cpu_ms_per_event"], 3
        ),
    }


async def main(n_events: int, rounds: int, cap: float) -> dict[str, Any]:
    cfg = bench_config()
    env = await asyncio.to_thread(fresh_stack, cfg)
    sim = backlog(n_events)
    per_visit = float(os.environ.get("BENCH_COMPLAINTS_PER_VISIT", "0.5"))
    events = generate(replace(sim, rates=replace(sim.rates, complaints_per_visit=per_visit)))
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "load_average_1m_at_start": os.getloadavg()[0]},
        "backlog_events": n_events,
        "backlog_mix": summarise(events),
        "rounds": rounds,
        "order": "per service: on, off, on, off, ... (interleaved)",
    }
    await publish_to_kafka(env["KAFKA_BOOTSTRAP_SERVERS"], events, rate=0)
    del events
    for name in SERVICES:
        console.print(f"[bold]{name}[/]: encryption on and off, {rounds} rounds")
        runs: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
        for i in range(1, rounds + 1):
            for mode in MODES:
                runs[mode].append(await one_run(cfg, env, name, mode, i, cap))
        results[name] = {"runs": runs, **summary(runs)}
        console.print(f"  {name}: {results[name]['rate_on_over_off']} of the rate without")
    results["machine"]["load_average_1m_at_end"] = os.getloadavg()[0]
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    return results


if __name__ == "__main__":
    asyncio.run(main(
        int(os.environ.get("BENCH_EVENTS", "10000")), int(os.environ.get("BENCH_ROUNDS", "4")),
        float(os.environ.get("BENCH_DRAIN_CAP_S", "240")),
    ))  # fmt: skip
