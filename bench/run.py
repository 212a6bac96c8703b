"""`make bench`: backlog drain of every consuming service against the raw baseline, steady
latency at 50/200/1000 events/s, peak RSS, and the follow-up service with 1 and 2 instances.

Runs on its own stack (`.stack-bench`, ports + 16000) from empty data; prints a table and
writes bench/results.json. BENCH_EVENTS sets the backlog size (default 200,000); BENCH_SERVICES
(comma-separated) drains only some services, for working on one hot path; BENCH_COMPLAINTS
(default 10,000) the complaints-only backlog complaints is measured on beside the mixed one.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import asyncpg
from rich.console import Console
from rich.table import Table

from bench import profile
from bench.baseline import raw_complaints_drain, raw_drain
from bench.cpu_window import Meter
from bench.drain import CONSUMED, DrainResult, drain
from bench.kafka_offsets import Offsets
from bench.latency import measure
from bench.side_work import HELD_FOLLOWUP_JOBS, HELD_NOTIFICATIONS_DISPATCH, held_quiet_hours
from bench.stack import (
    PORT_SHIFT,
    Proc,
    RssSampler,
    bench_config,
    fresh_stack,
    mb,
    stack_cpu_seconds,
)
from hospital_shared import topics
from simulator.hospital import Rates
from simulator.publish import publish_to_kafka
from simulator.stream import SimConfig, generate, summarise

RESULTS = Path(__file__).resolve().parent / "results.json"
T = TypeVar("T")
HOSPITAL_TZ = os.environ.get("HOSPITAL_TZ", "Asia/Shanghai")
ALL_CONSUMING = ("followup", "complaints", "notifications", "metrics")
CONSUMING = tuple(
    s
    for s in ALL_CONSUMING
    if s in os.environ.get("BENCH_SERVICES", ",".join(ALL_CONSUMING)).split(",")
)
SERVICES = ("registration", *CONSUMING)
# The latency phase's rates (events/s) and how long each runs; BENCH_LATENCY_RATES picks some,
# BENCH_LATENCY_SECONDS sets how long each of them runs (a sustained rate rather than a burst).
_SECONDS = os.environ.get("BENCH_LATENCY_SECONDS")
LATENCY_RUNS = tuple(
    (rate, float(_SECONDS) if _SECONDS else seconds)
    for rate, seconds in ((50, 30.0), (200, 30.0), (1000, 20.0))
    if str(rate) in os.environ.get("BENCH_LATENCY_RATES", "50,200,1000").split(",")
)
# BENCH_LATENCY_INSTANCES="notifications=2": the latency phase runs that many instances of a
# service (each on its own port, + 100 for the second; its CPU is their sum).
LATENCY_INSTANCES: dict[str, int] = {
    name: int(n)
    for item in os.environ.get("BENCH_LATENCY_INSTANCES", "").split(",")
    if item
    for name, n in [item.split("=", 1)]
}
# Wide enough for the drain table when the output is a file or a pipe (rich assumes 80).
console = Console(width=None if sys.stdout.isatty() else 150)


def backlog(n: int) -> SimConfig:
    hospitals, days = 4, 7.0
    visits = int(n / (1.1 * hospitals * days)) + 50
    return SimConfig(
        start=datetime.now(UTC).replace(microsecond=0) - timedelta(days=10),
        seed=2026,
        days=days,
        hospitals=hospitals,
        rates=replace(Rates(), visits_per_day=visits, complaints_per_visit=0.05),
        run_id="B",
        max_events=n,
    )


async def wait_outbox_empty(database_url: str, schema: str, timeout: float = 600) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = await conn.fetchval(
                f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"
            )
            if left == 0:
                return
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


# Every consumer group of the services, with its topics (followup's group as the latency
# phase runs it), so a group that never ran still starts at the end of its topics.
SERVICE_GROUPS: dict[str, tuple[str, ...]] = {
    "followup-2x.events": (topics.DISCHARGES, topics.REGISTRATIONS),
    # follow-up's groups before it had one (a bench of code before 2026-12-06)
    "followup-2x.discharges": (topics.DISCHARGES,),
    "followup-2x.registrations": (topics.REGISTRATIONS,),
    "complaints.complaints": (topics.COMPLAINTS_IN,),
    "complaints.roster": (topics.STAFF_ROSTER,),
    "notifications.notify": CONSUMED["notifications"],
    "metrics.events": CONSUMED["metrics"],
}


async def skip_backlog(bootstrap: str) -> None:
    """Commit the end of every topic for every (stopped) service consumer group, so the
    latency runs start with no backlog left over from the drains."""
    async with Offsets(bootstrap) as off:
        for group, group_topics in SERVICE_GROUPS.items():
            await off.commit_ends(group, group_topics)


async def bench(n_events: int, cap: float, phases: set[str]) -> dict[str, Any]:
    cfg = bench_config()
    console.print(
        f"[bold]bench stack[/] {cfg.state_dir} (ports + {PORT_SHIFT}): starting from empty data"
    )
    env = await asyncio.to_thread(fresh_stack, cfg)
    bootstrap, database_url = env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"]
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(),
        # The clock of the run: what is due (reminders, notices) depends on the hospital's
        # hour; during the drains notifications holds every SMS (its dispatcher paused).
        "clock": {
            "utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "hospital_local": datetime.now(ZoneInfo(HOSPITAL_TZ)).isoformat(timespec="seconds"),
            "notifications_drain_quiet_hours": held_quiet_hours(
                datetime.now(ZoneInfo(HOSPITAL_TZ))
            ),
        },
        "followup_drain_held_jobs": HELD_FOLLOWUP_JOBS,
        "notifications_drain_held": HELD_NOTIFICATIONS_DISPATCH,
        "drain_commit_interval_ms": DRAIN_COMMIT_INTERVAL_MS,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "backlog_events": n_events,
        # The machine may be shared: the 1-minute load average at each phase says how much.
        "load_average_1m": {"start": os.getloadavg()[0]},
    }

    if not phases & {"drain", "scaling"}:
        return await _latency_only(cfg, bootstrap, database_url, results)
    started = time.monotonic()
    events = generate(backlog(n_events))
    results["backlog_mix"] = summarise(events)
    console.print(
        f"generated {len(events)} events in {time.monotonic() - started:.1f}s: {results['backlog_mix']}"
    )
    started = time.monotonic()
    await publish_to_kafka(bootstrap, events, rate=0)
    took = time.monotonic() - started
    results["publish_rate"] = round(len(events) / took)
    console.print(f"published the backlog at {results['publish_rate']} events/s")
    del events

    sampler = RssSampler()
    sampler.start()
    if "drain" in phases:
        drains, raw_rates = await drain_phase(cfg, bootstrap, database_url, sampler, cap, results)
        results["drain"] = {
            name: _drain_summary(d, raw_rates[name], raw_rates.get(f"{name}_own_writes"))
            for name, d in drains.items()
        }
        if "complaints" in results["drain"]:
            results["drain"]["complaints"]["backlog"] = results.get("complaints_backlog")
        # (no stale profiles of an earlier run left in results.json either)
        results["profiles"] = (
            {name: profile.summarise(name) for name in CONSUMING} if PROFILE else {}
        )
    if "scaling" in phases:
        results["followup_scaling"] = await scaling_phase(
            cfg, bootstrap, database_url, sampler, cap
        )
    if "latency" in phases:
        results["latency"] = await latency_phase(cfg, bootstrap, database_url, sampler)
        results["latency_operator"] = cfg.smsc
        results["latency_sent"] = GENERATOR
    await sampler.stop()
    results["rss_mb"] = {
        label: {"peak": mb(peak), **{k: mb(v) for k, v in sampler.marks.get(label, {}).items()}}
        for label, peak in sorted(sampler.peak.items())
    }
    return results


def _run_summary(d: DrainResult) -> dict[str, Any]:
    """One run: its rate, the clock and the machine's load, and the side work beside it."""
    return {
        "events_per_s": round(d.rate),
        "started_at_utc": d.started_at,
        "load_average_1m_at_end": round(d.load_average_1m, 2),
        "side_records": d.side_records,
        "side_work": d.side_work,
    }


def _drain_summary(
    d: DrainResult, two_rows: list[float], own: list[float] | None
) -> dict[str, Any]:
    runs = d.runs or [d]
    return {
        "events": d.events,
        "seconds": round(d.seconds, 2),
        "startup_seconds": round(d.startup_s, 2),
        "committed_at_start": d.committed_at_start,
        "complete": d.complete,
        "events_per_s": round(d.rate),
        "events_per_s_with_startup": round(d.rate_with_startup),
        "runs_events_per_s": [round(r.rate) for r in runs],
        "runs": [_run_summary(r) for r in runs],
        "cpu_ms_per_event": round(d.cpu_ms_per_event, 3),
        "cpu_ms_per_event_by_process": d.cpu_ms_per_event_by_process(),
        "raw_cpu_ms_per_event_by_process": RAW_CPU.get(d.service, []),
        **_ratios(d, two_rows, own),
    }


def _ratios(d: DrainResult, two_rows: list[float], own: list[float] | None) -> dict[str, Any]:
    """The ratio to the raw consumer doing the service's equivalent write. For complaints,
    which writes a case (11 indexes), its deadlines, an audit line, an outbox row and an inbox
    row per event, that is the raw consumer writing those rows into its tables; for the other
    services, the two-row one (an inbox row and an effect row per event). The ratio to the
    two-row consumer is reported for every service."""
    equivalent = own or two_rows
    return {
        "raw_baseline": "own rows" if own else "two rows",
        "raw_baseline_events_per_s": round(statistics.median(equivalent)),
        "raw_baseline_runs_events_per_s": [round(r) for r in equivalent],
        "ratio_to_raw": round(d.rate / statistics.median(equivalent), 3),
        "raw_two_rows_events_per_s": round(statistics.median(two_rows)),
        "raw_two_rows_runs_events_per_s": [round(r) for r in two_rows],
        "ratio_to_raw_two_rows": round(d.rate / statistics.median(two_rows), 3),
    }


async def _latency_only(
    cfg: Any, bootstrap: str, database_url: str, results: dict[str, Any]
) -> dict[str, Any]:
    sampler = RssSampler()
    sampler.start()
    results["latency"] = await latency_phase(cfg, bootstrap, database_url, sampler)
    results["latency_operator"] = cfg.smsc  # fakesmsc or the SMPP simulator (DEVSTACK_SMSC)
    results["latency_sent"] = GENERATOR  # what the generator really sent, at what load
    results["load_average_1m"]["end"] = os.getloadavg()[0]
    await sampler.stop()
    results["rss_mb_latency_phase"] = {
        label: {"peak": mb(peak)} for label, peak in sampler.peak.items()
    }
    return results


async def drain_phase(
    cfg: Any, bootstrap: str, database_url: str, sampler: RssSampler, cap: float,
    results: dict[str, Any],
) -> tuple[dict[str, DrainResult], dict[str, list[float]]]:  # fmt: skip
    """Each service drains its backlog, then the raw baseline drains the same topics right
    after it (RAW_RUNS times; the median counts), so that both see the machine in the same
    state: its speed here drifts by a third from one minute to the next. Before each, the
    stack settles (see `settle`). Then every service drains again (`_more_runs`)."""
    drains: dict[str, DrainResult] = {}
    raw_rates: dict[str, list[float]] = {}
    results["settled_seconds"] = {}
    only = "complaints" in CONSUMING and COMPLAINTS_ONLY > 0  # measured on its own backlog
    for name in CONSUMING:
        results["settled_seconds"][name] = await settle(cfg)
        proc = Proc(cfg, name, env=drain_env(name))
        console.print(f"draining the backlog with [bold]{name}[/] ...")
        drains[name] = await drain(
            bootstrap,
            database_url,
            [proc],
            sampler,
            group_prefix=f"{name}.",
            timeout=cap,
            profile_as=name if PROFILE else None,
        )
        if name in ("followup", "complaints"):
            await wait_outbox_empty(database_url, name)  # its events are the next ones' input
        proc.stop()
        results["load_average_1m"][f"after {name} drain"] = os.getloadavg()[0]
        _print_drain(drains[name], "" if name != "complaints" or not only else " (input only)")
        if name != "complaints" or not only:
            raw_rates.update(await _raw_runs(cfg, bootstrap, database_url, name))
    for name in reversed(CONSUMING):
        if name == "complaints" and only:
            results["complaints_input_drain"] = _run_summary(drains.pop(name))
            continue
        drains[name] = await _more_runs(cfg, bootstrap, database_url, sampler, cap, drains[name])
    if only:
        drains["complaints"] = await _complaints_only(
            cfg, bootstrap, database_url, sampler, cap, raw_rates, results
        )
    return drains, raw_rates


# BENCH_COMPLAINTS: complaints published after every other drain (bench.rss's complaints-only
# backlog), which complaints' measured runs drain beside the mixed backlog's. The mixed
# backlog of 20,000 events holds ~835 complaints, one consumed batch: drained before the
# service answers /readyz, when neither its time nor its CPU is measured. 0: complaints is
# measured on the mixed backlog alone (its first drain, as the other services).
COMPLAINTS_ONLY = int(os.environ.get("BENCH_COMPLAINTS", "10000"))


async def _complaints_only(
    cfg: Any, bootstrap: str, database_url: str, sampler: RssSampler, cap: float,
    raw_rates: dict[str, list[float]], results: dict[str, Any],
) -> DrainResult:  # fmt: skip
    """Complaints' measured runs: its first drain (of the mixed backlog, whose cases are the
    other services' input) is not one; once every other service has drained, the
    complaints-only backlog is published, and complaints drains both, DRAIN_RUNS times from
    an empty schema in a new consumer group, then the raw clients drain the same topic.
    Published last so that no other service's drain sees it."""
    from bench.rss import publish_complaints  # bench.rss builds on this module

    extra = await publish_complaints(bootstrap, COMPLAINTS_ONLY)
    results["complaints_backlog"] = {
        "mixed_backlog_complaints": results.get("backlog_mix", {}).get("complaint.submitted"),
        "complaints_only": extra,
    }
    console.print(f"published {extra} more complaints (complaints' measured drains)")
    first, _ = await fresh_drain(
        cfg, bootstrap, database_url, "complaints", "complaints-run1", {}, cap, sampler,
        profile_as="complaints" if PROFILE else None,
    )  # fmt: skip
    _print_drain(first, " run 1")
    measured = await _more_runs(cfg, bootstrap, database_url, sampler, cap, first)
    raw_rates.update(await _raw_runs(cfg, bootstrap, database_url, "complaints"))
    return measured


# A drain's clock stops at the commit of its last record. With offsets committed at most
# every 500 ms (the services' default, for a steady stream's small batches) that commit comes
# up to half a second after the last batch, a fifth of a 20,000-event drain of follow-up
# (~2 s). A drain's batches are large, so committing after each costs a few commits a
# second. (It did not explain follow-up's bimodal 20,000-event drains of session 19: an A/B
# of 500 against 0, four rounds, stayed bimodal on both sides; docs/bench.md, session 20.)
DRAIN_COMMIT_INTERVAL_MS = "0"


def drain_env(name: str) -> dict[str, str]:
    """A drained service's settings beside SERVICE_ENV's: notifications' SMS dispatcher is
    paused, and its survey reminders job too (`HELD_NOTIFICATIONS_DISPATCH`: a backlog days
    old has most of its reminders due at once), and every patient SMS it plans falls in quiet
    hours (all day but a minute past), so that its drain measures the consumer at any hour
    instead of the consumer plus the dispatcher; follow-up holds its due scan and assignment
    after their first pass (`HELD_FOLLOWUP_JOBS`). Every drained service commits its offsets
    after each batch (`DRAIN_COMMIT_INTERVAL_MS`)."""
    commits = {f"{name.upper()}_CONSUMER_COMMIT_INTERVAL_MS": DRAIN_COMMIT_INTERVAL_MS}
    if name == "followup":
        return commits | HELD_FOLLOWUP_JOBS
    if name != "notifications":
        return commits
    held = held_quiet_hours(datetime.now(ZoneInfo(HOSPITAL_TZ))) | HELD_NOTIFICATIONS_DISPATCH
    return commits | held


def _print_drain(d: DrainResult, label: str) -> None:
    console.print(
        f"  {d.service}{label}: {d.events} events in {d.seconds:.1f}s = {d.rate:.0f}/s once "
        f"running (start-up {d.startup_s:.1f}s, {d.committed_at_start} committed when timed from,"
        f" {d.cpu_ms_per_event:.2f} CPU ms/event, load "
        f"{d.load_average_1m:.1f}){'' if d.complete else ' [time cap reached]'}"
    )
    if d.side_records or d.side_work:
        console.print(f"    side work: {d.side_records} {d.side_work}")


async def _raw_runs(
    cfg: Any, bootstrap: str, database_url: str, name: str
) -> dict[str, list[float]]:
    """The raw baseline on `name`'s topics RAW_RUNS times (complaints: its own write too)."""
    out: dict[str, list[float]] = {name: []}
    for _ in range(RAW_RUNS):
        await settle(cfg)
        (n, secs), cpu = await with_cpu(
            cfg, raw_drain(bootstrap, database_url, CONSUMED[name], name)
        )
        out[name].append(n / secs)
        RAW_CPU.setdefault(name, []).append({k: round(1000 * v / n, 3) for k, v in cpu.items()})
    console.print(
        f"  raw baseline on {name}'s topics: {n} events, "
        + ", ".join(f"{r:.0f}/s" for r in out[name])
        + f"; CPU ms/event {RAW_CPU[name][-1]}"
    )
    if name == "complaints":  # its write set is far more than the minimal one
        own = f"{name}_own_writes"
        out[own] = []
        for _ in range(RAW_RUNS):
            await settle(cfg)
            n, secs = await raw_complaints_drain(bootstrap, database_url)
            out[own].append(n / secs)
        console.print(
            f"  raw baseline writing {name}' own rows: {n} events, "
            + ", ".join(f"{r:.0f}/s" for r in out[own])
        )
    return out


# The raw baseline's CPU per event by process (the client, PostgreSQL, Kafka), by service.
RAW_CPU: dict[str, list[dict[str, float]]] = {}


async def with_cpu(cfg: Any, work: Awaitable[T]) -> tuple[T, dict[str, float]]:
    """`work`'s result and the CPU seconds this process (the raw client), PostgreSQL and
    Kafka used meanwhile."""
    stack = stack_cpu_seconds(cfg)
    own = time.process_time()
    result = await work
    # The raw client has just closed its connection: its backend exits a moment later, and
    # read meanwhile (a zombie) its CPU is neither a live child's nor yet in the postmaster's
    # children's times. Read at once, the raw client's PostgreSQL CPU came out 0.000-0.005 ms
    # an event in most rounds (0.03-0.05 in the others).
    await asyncio.sleep(0.5)
    after = stack_cpu_seconds(cfg)
    return result, {"client": time.process_time() - own} | {k: after[k] - stack[k] for k in stack}


# Every service drains its backlog DRAIN_RUNS times and the run with the median rate counts;
# every run's rate, clock, load and side work is reported: one run is at the mercy of the
# machine's drift (complaints' ~8,500 events drain in a second or two). The later runs start
# from an empty schema in a new consumer group, after every first run, services in the
# reverse order of their first runs: what a re-run publishes (follow-up's tasks,
# complaints' cases, notifications' statuses) is consumed by no service drained after it.
DRAIN_RUNS = 3


async def _more_runs(
    cfg: Any, bootstrap: str, database_url: str, sampler: RssSampler, cap: float,
    first: DrainResult,
) -> DrainResult:  # fmt: skip
    name = first.service
    runs = [first]
    for i in range(2, DRAIN_RUNS + 1):
        group = f"{name}-run{i}"
        console.print(f"draining the backlog with [bold]{name}[/] again (run {i}, group {group})")
        d, _ = await fresh_drain(cfg, bootstrap, database_url, name, group, {}, cap, sampler)
        _print_drain(d, f" run {i}")
        runs.append(d)
    median = sorted(runs, key=lambda d: d.rate)[len(runs) // 2]
    return replace(median, runs=runs)


async def fresh_drain(
    cfg: Any, bootstrap: str, database_url: str, name: str, group: str, env: dict[str, str],
    cap: float, sampler: RssSampler | None = None, profile_as: str | None = None,
) -> tuple[DrainResult, RssSampler]:  # fmt: skip
    """One drain of `name`'s backlog on a settled stack, from an empty schema, in consumer
    group `group`, with `env` beside `drain_env`'s settings; its outbox published before the
    process stops. Without `sampler`, the run's RSS is sampled on its own."""
    await settle(cfg)
    await drop_schemas(database_url, name)
    proc = Proc(cfg, name, env={**drain_env(name), **env, f"{name.upper()}_CONSUMER_GROUP": group})
    own = sampler is None
    sampler = sampler or RssSampler()
    if own:
        sampler.start()
    try:
        d = await drain(
            bootstrap, database_url, [proc], sampler, group_prefix=f"{group}.", timeout=cap,
            profile_as=profile_as,
        )  # fmt: skip
        await wait_outbox_empty(database_url, name)
    finally:
        proc.stop()
        if own:
            await sampler.stop()
    return d, sampler


RAW_RUNS = 3
# BENCH_PROFILE=1 samples each service's first drain with py-spy (bench/profiles/). Off by
# default: the sampler takes CPU from the two cores the service, PostgreSQL and Kafka share,
# and the drain rates would count that (complaints, a few seconds long: about a tenth).
PROFILE = os.environ.get("BENCH_PROFILE", "") not in ("", "0")


# Tables past autovacuum's thresholds (PostgreSQL's defaults as set), as one VACUUM list. The
# launcher looks every minute, so waiting for running workers alone let a vacuum of the
# previous step's tables start during the next measurement.
_DUE_FOR_AUTOVACUUM = """
SELECT string_agg(format('%I.%I', s.schemaname, s.relname), ', ')
FROM pg_stat_all_tables s JOIN pg_class c ON c.oid = s.relid,
     LATERAL (SELECT greatest(c.reltuples, 0) AS n) t
WHERE s.schemaname NOT IN ('pg_toast', 'information_schema') AND c.relkind = 'r'
  AND (s.n_dead_tup > current_setting('autovacuum_vacuum_threshold')::float8
                      + current_setting('autovacuum_vacuum_scale_factor')::float8 * t.n
    OR s.n_ins_since_vacuum > current_setting('autovacuum_vacuum_insert_threshold')::float8
                      + current_setting('autovacuum_vacuum_insert_scale_factor')::float8 * t.n
    OR s.n_mod_since_analyze > current_setting('autovacuum_analyze_threshold')::float8
                      + current_setting('autovacuum_analyze_scale_factor')::float8 * t.n)
"""


async def settle(cfg: Any, timeout: float = 120.0) -> float:
    """Let the previous step's background work end before the next measurement: the vacuum
    and analyse autovacuum would soon start on the tables it changed (run now), a checkpoint
    of what it wrote, the kernel's write-back of every dirty page (Kafka's log segments: a
    few hundred MB after a drain, written back 30 s later, when PostgreSQL's commits would
    queue behind them for the disk), and PostgreSQL's autovacuum workers (after a drain of
    200,000 events they vacuum and analyse its tables for a while, on the same two cores). A
    service's own autovacuum during its drain still counts against it. Returns the seconds
    waited."""
    from devstack import postgres
    from devstack.config import PG_DATABASE

    started = time.monotonic()
    su = await asyncpg.connect(
        host=str(postgres.socket_dir(cfg)), port=cfg.postgres_port, user="postgres",
        database=PG_DATABASE,
    )  # fmt: skip
    try:
        due = await su.fetchval(_DUE_FOR_AUTOVACUUM)
        if due:  # what the launcher would start within its next minute, done now
            await su.execute(f"VACUUM (ANALYZE) {due}")
        await su.execute("CHECKPOINT")
        await asyncio.to_thread(os.sync)
        while time.monotonic() - started < timeout:
            vacuuming = await su.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
            )
            if not vacuuming:
                break
            await asyncio.sleep(0.5)
    finally:
        await su.close()
    return round(time.monotonic() - started, 1)


async def scaling_phase(
    cfg: Any, bootstrap: str, database_url: str, sampler: RssSampler, cap: float
) -> dict[str, Any]:
    """Follow-up with 1 then 2 instances, back to back on the same backlog (each from an
    empty schema and a new consumer group), so code and machine load are the same; with the
    drains' settings (`drain_env`: its jobs held, offsets committed after each batch; until
    session 20 neither)."""
    out: dict[str, Any] = {}
    for n in (1, 2):
        group = f"followup-{n}x"
        console.print(f"follow-up with {n} instance(s) (empty schema, group {group}) ...")
        await drop_schemas(database_url, "followup")
        env = {**drain_env("followup"), "FOLLOWUP_CONSUMER_GROUP": group}
        procs = [Proc(cfg, "followup", port_shift=100 * i, env=env) for i in range(n)]
        d = await drain(
            bootstrap, database_url, procs, sampler, group_prefix=f"{group}.", timeout=cap
        )
        for p in procs:
            p.stop()
        console.print(f"  {n} instance(s): {d.events} events in {d.seconds:.1f}s = {d.rate:.0f}/s")
        out[f"{n}_instance_events_per_s"] = round(d.rate)
        out[f"{n}_instance_events_per_s_with_startup"] = round(d.rate_with_startup)
        out[f"{n}_instance_events"] = d.events
        out[f"{n}_instance_complete"] = d.complete
        out[f"{n}_instance_load_average_1m"] = os.getloadavg()[0]
    return out


async def drop_schemas(database_url: str, *schemas: str) -> None:
    """Empty services' state (bench stack only); a service re-creates its schema at start."""
    conn = await asyncpg.connect(database_url)
    try:
        for schema in schemas:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()


async def latency_phase(
    cfg: Any, bootstrap: str, database_url: str, sampler: RssSampler
) -> dict[str, list[dict[str, Any]]]:
    """Steady state: no backlog in the topics, and none in the services' tables either. The
    drains leave 10-day-old tasks and cases whose overdue events, time-limit alerts and staff
    texts would otherwise flood in for minutes and be measured instead of the new events."""
    await skip_backlog(bootstrap)
    await drop_schemas(database_url, "followup", "complaints")
    await clear_sms_queue(database_url)  # before the reminders job starts, and before each rate
    console.print(f"steady latency: all five services running, operator {cfg.smsc} ...")
    running = [Proc(cfg, name, port_shift=100 * i,
                    env={"FOLLOWUP_CONSUMER_GROUP": "followup-2x"} if name == "followup" else {})
               for name in SERVICES for i in range(LATENCY_INSTANCES.get(name, 1))]  # fmt: skip
    if any(n > 1 for n in LATENCY_INSTANCES.values()):
        console.print(f"  instances: {LATENCY_INSTANCES}")
    for p in running:
        p.start()
        sampler.watch(p)
    latencies: dict[str, list[dict[str, Any]]] = {}
    try:
        for p in running:
            await p.ready()
        for rate, seconds in LATENCY_RUNS:
            await clear_sms_queue(database_url)
            console.print(f"  {rate} events/s for {seconds:.0f}s ...")
            measured, sent = await measure(
                bootstrap, database_url, rate, seconds, meter=lambda: Meter(cfg, running)
            )
            latencies[str(rate)] = [asdict(m) for m in measured]
            GENERATOR[str(rate)] = asdict(sent)
            console.print(
                f"    sent {sent.events} events at {sent.per_s:.0f}/s (at most"
                f" {sent.behind_schedule_max_ms:.0f} ms behind its pace; send to broker's ack"
                f" p50 {sent.ack_p50_ms:.0f} ms, p99 {sent.ack_p99_ms:.0f} ms), load"
                f" {sent.load_average_1m}"
            )
            if sent.cpu:
                console.print(f"    CPU over the sending: {sent.cpu}")
            for m in measured:
                console.print(
                    f"    {m.effect}: n={m.n} p50={m.p50_ms:.0f}ms p95={m.p95_ms:.0f}ms"
                    f" p99={m.p99_ms:.0f}ms; from the broker's ack p50={m.p50_from_ack_ms:.0f}ms"
                    f" p99={m.p99_from_ack_ms:.0f}ms"
                    + (f" ({m.unfinished} unfinished)" if m.unfinished else "")
                )
    finally:
        for p in running:
            sampler.note_peak(p.label)
            p.stop()
    return latencies


# What the latency phase's generator really sent at each rate (bench/latency.py `Sent`).
GENERATOR: dict[str, dict[str, Any]] = {}


async def clear_sms_queue(database_url: str) -> None:
    """Expire SMS still waiting from earlier phases (bench stack only), so each latency run
    measures its own messages, not the dispatcher's leftover queue. The survey reminders the
    drains' invitations have due go too: their events are days old, so the reminders job
    (held during the drains) made ~8,500 of them at the start of the first latency run, which
    then measured its SMS behind them (p50 4.9 s, p99 16.4 s at 50 events/s, 16:55 UTC)."""
    conn = await asyncpg.connect(database_url)
    try:
        if await conn.fetchval("SELECT to_regclass('notifications.survey_links')") is None:
            return  # a stack started empty: the service has not made its tables yet
        await conn.execute(
            "UPDATE notifications.messages SET status = 'expired',"
            " status_reason = 'bench: cleared before a latency run'"
            " WHERE status = 'pending'"
        )
        await conn.execute(
            "UPDATE notifications.survey_links SET reminder_due_at = NULL"
            " WHERE reminder_due_at IS NOT NULL"
        )
    finally:
        await conn.close()


def print_tables(r: dict[str, Any]) -> None:
    r = {"drain": {}, "followup_scaling": {}, "latency": {}, "rss_mb": {}, **r}
    t = Table(
        title=f"Backlog drain of {r['backlog_events']:,} mixed events (targets: >= 5,000/s, >= 30% of raw)"
    )
    for col in (
        "service",
        "events",
        "seconds",
        "events/s",
        "with start-up",
        "raw/s, same write",
        "ratio",
        "2-row raw/s",
        "ratio to 2-row",
        "peak RSS MB",
        "CPU ms/event",
        "runs/s (load)",
    ):
        t.add_column(col, justify="right" if col != "service" else "left")
    for name, d in r["drain"].items():
        t.add_row(name + _backlog_note(d) + ("" if d["complete"] else " (capped)"), str(d["events"]), str(d["seconds"]),
                  str(d["events_per_s"]), str(d["events_per_s_with_startup"]),
                  str(d["raw_baseline_events_per_s"]), f"{d['ratio_to_raw']:.0%}",
                  str(d.get("raw_two_rows_events_per_s", "")),
                  f"{d['ratio_to_raw_two_rows']:.0%}" if "ratio_to_raw_two_rows" in d else "",
                  str(r["rss_mb"].get(name, {}).get("peak", "?")),
                  str(d.get("cpu_ms_per_event", "?")), _runs_cell(d))  # fmt: skip
    console.print(t)
    if r["drain"]:
        clock = r.get("clock", {})
        console.print(
            f"clock: {clock.get('utc', r.get('when'))} UTC, {clock.get('hospital_local', '?')} "
            "hospital time; the median of each service's runs counts; notifications holds "
            "every SMS during its drains (its dispatcher and survey reminders paused, and "
            f"quiet hours {clock.get('notifications_drain_quiet_hours')})"
        )
        if "complaints" in r["drain"]:
            console.print(_complaints_note(r))
    for name, d in r["drain"].items():
        if "cpu_ms_per_event_by_process" in d:
            raw = d.get("raw_cpu_ms_per_event_by_process") or [{}]
            console.print(
                f"{name}: CPU ms/event {d['cpu_ms_per_event_by_process']}, its raw baseline's"
                f" {raw[len(raw) // 2]}"
            )
        for i, run in enumerate(d.get("runs", []), start=1):
            if run.get("side_records") or run.get("side_work"):
                console.print(
                    f"{name} run {i} side work: records of other groups {run['side_records']},"
                    f" {run['side_work']}"
                )
        if d.get("raw_baseline") == "own rows":
            console.print(
                f"{name}: its raw baseline writes its own rows (case, deadlines, audit line, "
                "outbox, inbox) into its tables, the equivalent of its write; the 2-row one "
                "writes an inbox row and an effect row per event"
            )
    s = r["followup_scaling"]
    if s:
        console.print(
            f"follow-up: 1 instance {s.get('1_instance_events_per_s')}/s, "
            f"2 instances {s.get('2_instance_events_per_s')}/s"
        )
    t = Table(
        title="Steady latency from input event to effect (targets: p99 <= 500 ms at 200/s,"
        f" <= 250 ms at 1,000/s; operator {r.get('latency_operator', 'fakesmsc')})"
    )
    for col in ("rate", "sent/s (load)", "effect", "n", "unfinished", "p50 ms", "p95 ms", "p99 ms",
                "p99 from ack ms"):  # fmt: skip
        t.add_column(col)
    for rate, rows in r["latency"].items():
        g = r.get("latency_sent", {}).get(rate, {})
        sent = f"{g['per_s']:.0f} ({g['load_average_1m']:.1f})" if g else ""
        for m in rows:
            t.add_row(rate, sent, m["effect"], str(m["n"]), str(m.get("unfinished", "")),
                      f"{m['p50_ms']:.0f}", f"{m.get('p95_ms', float('nan')):.0f}",
                      f"{m['p99_ms']:.0f}", f"{m.get('p99_from_ack_ms', float('nan')):.0f}")  # fmt: skip
    console.print(t)
    t = Table(title="Resident memory (target: <= 150 MB, no growth after 100k events)")
    for col in ("process", "peak MB", "at 100k MB", "at end of drain MB"):
        t.add_column(col)
    for label, m in r["rss_mb"].items():
        t.add_row(
            label, str(m["peak"]), str(m.get("rss_at_100k", "")), str(m.get("rss_at_end", ""))
        )
    console.print(t)
    for name, prof in r.get("profiles", {}).items():
        for title, rows in prof.items():
            console.print(
                f"[bold]{name}[/] {title.replace('_', ' ')}: "
                + "; ".join(f"{f} {share:.0%}" for f, share in rows[:8])
            )


def _backlog_note(d: dict[str, Any]) -> str:
    """What a drain consumed beyond the mixed backlog (complaints: its complaints-only one)."""
    extra = (d.get("backlog") or {}).get("complaints_only")
    return f" (mixed + {extra:,} complaints-only)" if extra else ""


def _complaints_note(r: dict[str, Any]) -> str:
    """How complaints was measured: on the mixed backlog's complaints and the complaints-only
    backlog, or on the mixed one alone (BENCH_COMPLAINTS=0), whose one batch may drain before
    the service is ready."""
    b = r["drain"].get("complaints", {}).get("backlog")
    if b:
        return (
            f"complaints: measured on {b['mixed_backlog_complaints']} complaints of the mixed"
            f" backlog and {b['complaints_only']:,} of a complaints-only one, published after"
            " the other services' drains; its first drain (the mixed backlog's, the others'"
            " input, one batch drained before the service was ready) is not counted"
        )
    return (
        "complaints: measured on the mixed backlog's complaints alone (BENCH_COMPLAINTS=0): a"
        " backlog of one batch drains before the service is ready, and is then not measured"
    )


def _runs_cell(d: dict[str, Any]) -> str:
    """Every run's rate with the load average at its end: the spread of the figure."""
    runs = d.get("runs")
    if not runs:
        return " / ".join(str(x) for x in d.get("runs_events_per_s", []))
    return " / ".join(f"{x['events_per_s']} ({x['load_average_1m_at_end']:.1f})" for x in runs)


def main() -> None:
    if os.environ.get("BENCH_PRINT_ONLY"):  # the tables of the last results, no run
        print_tables(json.loads(RESULTS.read_text()))
        return
    n_events = int(os.environ.get("BENCH_EVENTS", "200000"))
    cap = float(os.environ.get("BENCH_DRAIN_CAP_S", "240"))
    phases = set(os.environ.get("BENCH_PHASES", "drain,scaling,latency").split(","))
    results = asyncio.run(bench(n_events, cap, phases))
    merged: dict[str, Any] = {}
    if RESULTS.exists():  # other benchmarks (e.g. "registration") keep their own sections
        try:
            merged = json.loads(RESULTS.read_text())
        except ValueError:
            merged = {}
    merged.update(results)
    RESULTS.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
    print_tables(merged)
    console.print(f"written {RESULTS}")
    console.print("the RSS 'at 100k' column is empty for services that processed fewer events")
    if not os.environ.get("BENCH_KEEP_STACK"):
        import devstack

        devstack.down(bench_config())


if __name__ == "__main__":
    main()
