"""Resident memory through a long drain (issue 22: peak RSS <= 150 MB for every service through
a 200,000-event drain, flat after 100,000):

    BENCH_PORT_SHIFT=<shift> uv run python -m bench.rss        (or `make bench-rss`)

Each consuming service drains a backlog of at least BENCH_EVENTS (default 200,000) events
on its own topics, once, from an empty schema in a consumer group of its own, on the bench
stack (`.stack-bench`, ports + BENCH_PORT_SHIFT, from empty data), with its resident memory
recorded every 20,000 events consumed (`bench/drain.py`), its kernel high-water mark as the
peak, and the RSS at 100,000 events and at the end. "Growth after 100k" is the RSS at the end
minus the RSS at 100,000: flat is a few MB at most. Writes bench/rss_results.json.

The backlog is the bench's mixed one (`bench.run.backlog`): follow-up, notifications and
metrics each read 200,000 events or more of it (notifications and metrics also the tasks,
cases and statuses the services drained before them published). Complaints gets ~4% of it,
so it drains the mixed backlog's complaints (unreported: their cases are the others' input)
and, last, in a new group, those and a backlog of BENCH_EVENTS complaints published for it
alone. BENCH_SERVICES picks services (the ones whose events a
picked one reads still drain first, unreported), to run them one by one on a busy machine.
BENCH_RSS_CHANGE drains each picked service again with some settings changed (see CHANGED).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.drain import DrainResult
from bench.run import backlog, console, fresh_drain
from bench.stack import PORT_SHIFT, RssSampler, bench_config, fresh_stack, mb
from hospital_shared import topics
from simulator.hospital import Rates
from simulator.publish import publish_to_kafka
from simulator.stream import SimConfig, generate, summarise

RESULTS = Path(__file__).resolve().parent / "rss_results.json"
# BENCH_RSS_CHANGE="NOTIFICATIONS_CONSUMER_MAX_RECORDS=500[,...]": each picked service but
# complaints drains its backlog a second time with these settings, right after the first
# drain: a setting's before/after in one run.
CHANGED = dict(
    kv.split("=", 1) for kv in os.environ.get("BENCH_RSS_CHANGE", "").split(",") if "=" in kv
)
ORDER = ("followup", "complaints", "notifications", "metrics")
# What each service's drain needs drained before it: the events it reads that they publish.
NEEDS: dict[str, tuple[str, ...]] = {
    "notifications": ("followup", "complaints"),
    "metrics": ("followup", "complaints", "notifications"),
}


def complaints_backlog(n: int) -> SimConfig:
    """A backlog with about `n` complaints (registrations too, which are left out)."""
    hospitals, days, per_visit = 4, 7.0, 10.0
    visits = int(n / (per_visit * hospitals * days)) + 10
    return SimConfig(
        start=datetime.now(UTC).replace(microsecond=0) - timedelta(days=10),
        seed=2027,
        days=days,
        hospitals=hospitals,
        rates=replace(Rates(), visits_per_day=visits, complaints_per_visit=per_visit),
        run_id="RC",
    )


async def publish_complaints(bootstrap: str, n: int) -> int:
    """Publish `n` complaints (the complaints-only backlog), in time order."""
    events = [e for e in generate(complaints_backlog(n)) if e.topic == topics.COMPLAINTS_IN][:n]
    await publish_to_kafka(bootstrap, events, rate=0)
    return len(events)


def summary(d: DrainResult, sampler: RssSampler, label: str) -> dict[str, Any]:
    """One drain's memory and rate: peak, at 100k, at the end, the growth in between."""
    marks = sampler.marks.get(label, {})
    at_100k, at_end = marks.get("rss_at_100k"), marks.get("rss_at_end", 0)
    return {
        "events": d.events,
        "complete": d.complete,
        "seconds": round(d.seconds - d.startup_s, 1),
        "events_per_s": round(d.rate),
        "cpu_ms_per_event": round(d.cpu_ms_per_event, 3),
        "peak_rss_mb": mb(sampler.peak.get(label, 0)),
        "rss_at_100k_mb": mb(at_100k) if at_100k else None,
        "rss_at_end_mb": mb(at_end),
        "growth_after_100k_mb": mb(at_end - at_100k) if at_100k else None,
        "rss_mb_by_events": sampler.series.get(label, []),
        "started_at_utc": d.started_at,
        "load_average_1m_at_end": round(d.load_average_1m, 1),
        "side_records": d.side_records,
        "side_work": d.side_work,
    }


async def one(
    cfg: Any, env: dict[str, str], name: str, cap: float, group: str = "",
    settings: dict[str, str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One drain of `name` from an empty schema in its own group (`<name>-rss` by default),
    with `settings` (environment variables) beside the bench's."""
    bootstrap, database_url = env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"]
    console.print(f"draining with [bold]{name}[/] (load {os.getloadavg()[0]:.1f}) ...")
    started = time.monotonic()
    d, sampler = await fresh_drain(
        cfg, bootstrap, database_url, name, group or f"{name}-rss", settings or {}, cap
    )
    out = summary(d, sampler, name) | {"wall_seconds": round(time.monotonic() - started)}
    console.print(f"  {name}: { {k: v for k, v in out.items() if k != 'rss_mb_by_events'} }")
    console.print(f"  RSS MB by events consumed: {out['rss_mb_by_events']}")
    return out


def to_run(picked: list[str]) -> list[str]:
    """The picked services and those whose output they read, in drain order."""
    wanted = {*picked, *(n for p in picked for n in NEEDS.get(p, ()))}
    return [n for n in ORDER if n in wanted]


async def bench(n_events: int, picked: list[str], cap: float) -> dict[str, Any]:
    cfg = bench_config()
    console.print(f"[bold]bench stack[/] {cfg.state_dir} (ports + {PORT_SHIFT}), from empty data")
    env = await asyncio.to_thread(fresh_stack, cfg)
    events = generate(backlog(n_events))
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "backlog_events": len(events), "backlog_mix": summarise(events),
        "load_average_1m_at_start": round(os.getloadavg()[0], 1), "services": {},
    }  # fmt: skip
    await publish_to_kafka(env["KAFKA_BOOTSTRAP_SERVERS"], events, rate=0)
    del events
    for name in to_run(picked):
        drained = await one(cfg, env, name, cap)
        if name in picked and name != "complaints":  # complaints: its own backlog, below
            save(results, name, drained)
            if CHANGED:  # the same backlog again with the settings changed, same run
                label = f"{name} ({', '.join(f'{k}={v}' for k, v in CHANGED.items())})"
                save(results, label, await one(cfg, env, name, cap, f"{name}-rss-b", CHANGED))
    if "complaints" in picked:
        results["complaints_backlog"] = await publish_complaints(
            env["KAFKA_BOOTSTRAP_SERVERS"], n_events
        )
        # a new group: both backlogs' complaints, from the start of the topic
        save(results, "complaints", await one(cfg, env, "complaints", cap, "complaints-rss2"))
    results["load_average_1m_at_end"] = round(os.getloadavg()[0], 1)
    return results


def save(results: dict[str, Any], label: str, drained: dict[str, Any]) -> None:
    """Add a drain's figures and write the results so far: a run of an hour that is stopped
    keeps what it measured."""
    results["services"][label] = drained
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")


def print_table(r: dict[str, Any]) -> None:
    t = Table(title="Resident memory through the drain (target: peak <= 150 MB, flat after 100k)")
    for col in ("service", "events", "peak MB", "at 100k MB", "at end MB", "growth MB",
                "events/s", "CPU ms/event", "load"):  # fmt: skip
        t.add_column(col, justify="left" if col == "service" else "right")
    for name, s in r["services"].items():
        t.add_row(name + ("" if s["complete"] else " (capped)"), f"{s['events']:,}",
                  str(s["peak_rss_mb"]), str(s["rss_at_100k_mb"]), str(s["rss_at_end_mb"]),
                  str(s["growth_after_100k_mb"]), str(s["events_per_s"]),
                  str(s["cpu_ms_per_event"]), str(s["load_average_1m_at_end"]))  # fmt: skip
    console.print(t)


def main() -> None:
    if os.environ.get("BENCH_PRINT_ONLY"):
        print_table(json.loads(RESULTS.read_text()))
        return
    n_events = int(os.environ.get("BENCH_EVENTS", "200000"))
    picked = os.environ.get("BENCH_SERVICES", ",".join(ORDER)).split(",")
    cap = float(os.environ.get("BENCH_DRAIN_CAP_S", "3600"))
    try:
        results = asyncio.run(bench(n_events, picked, cap))
    finally:
        if not os.environ.get("BENCH_KEEP_STACK"):
            import devstack

            devstack.down(bench_config())
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print_table(results)
    console.print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
