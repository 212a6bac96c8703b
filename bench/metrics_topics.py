"""What each topic of its backlog costs the metrics service: metrics drains the backlog of
`bench.run` (the mixed backlog, then what follow-up, complaints and notifications published
draining it) one topic at a time, its group's other topics started at their end, and the raw
two-row client (bench/baseline.py) drains the same topic after it. Per topic: its events by
type, the drain's rate, and the CPU per event of the service, PostgreSQL and Kafka, against
the raw client's.

    BENCH_PORT_SHIFT=<s> BENCH_EVENTS=20000 BENCH_ROUNDS=1 [BENCH_AB_BEFORE=<rev>] \\
        [BENCH_METRICS_TOPICS=followup_tasks,notifications] uv run python -m bench.metrics_topics

With BENCH_AB_BEFORE, each topic is drained with that revision's code first, then with the
checkout's (as bench.ab_drain). Writes bench/metrics_topics_results.json under
BENCH_AB_LABEL. The code measured must consume in one group (`metrics.events`, after release
0.14): a revision before that had one group a topic, which this bench no longer holds still."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench import drain as drain_module
from bench.ab_drain import extract
from bench.baseline import raw_drain
from bench.drain import METRICS_TOPICS
from bench.kafka_offsets import Offsets
from bench.run import backlog, console, fresh_drain, settle, with_cpu
from bench.stack import bench_config, fresh_stack
from hospital_shared import topics as topic_names
from simulator.publish import publish_to_kafka
from simulator.stream import generate

RESULTS = Path(__file__).resolve().parent / "metrics_topics_results.json"
PRODUCERS = ("followup", "complaints", "notifications")  # their events are metrics' input
# Metrics' topics outside the backlog, held at their end too (its group reads them beside).
SIDE_TOPICS = (topic_names.STAFF_ROSTER, topic_names.QUEUE_REPORTS, topic_names.SURVEYS)
# BENCH_METRICS_TOPICS: some of metrics' measured consumers (by handler name), not all.
HANDLERS = [
    h for h in METRICS_TOPICS
    if h in os.environ.get("BENCH_METRICS_TOPICS", ",".join(METRICS_TOPICS)).split(",")
]  # fmt: skip
_COUNTED = (
    "SELECT labels::json->>'kind' AS kind, value FROM metrics.counter_totals"
    " WHERE metric = 'hospital_metrics_events_counted' AND labels::json->>'topic' = $1"
    " ORDER BY value DESC"
)


async def types_on(database_url: str, topic: str) -> dict[str, int]:
    """The events metrics counted on `topic` in its last drain, by type."""
    conn = await asyncpg.connect(database_url)
    try:
        return {r["kind"]: r["value"] for r in await conn.fetch(_COUNTED, topic)}
    finally:
        await conn.close()


async def one_topic(
    cfg: Any, env: dict[str, str], handler: str, code: str, extra: dict[str, str], tag: str,
    cap: float,
) -> dict[str, Any]:  # fmt: skip
    """Metrics drains `handler`'s topic alone: its group's other topics start at their ends."""
    bootstrap, database_url = env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"]
    topics = (METRICS_TOPICS[handler],)
    others = tuple(t for t in (*drain_module.CONSUMED["metrics"], *SIDE_TOPICS) if t not in topics)
    async with Offsets(bootstrap) as off:
        n = await off.end_total(topics)
    measured = drain_module.MEASURED["metrics"]
    drain_module.MEASURED["metrics"] = {"events": topics}
    drain_module.HELD["metrics"] = {"events": others}
    try:
        group = f"metrics-topic-{handler}-{code}-{tag}"
        d, _ = await fresh_drain(cfg, bootstrap, database_url, "metrics", group, extra, cap)
    finally:
        del drain_module.HELD["metrics"]
        drain_module.MEASURED["metrics"] = measured
    busy, timed = d.seconds - d.startup_s, n - d.committed_at_start
    out = {
        "events": n, "committed_at_start": d.committed_at_start,
        "events_per_s": round(timed / busy) if busy > 0 else 0,
        "complete": d.complete, "seconds_once_ready": round(busy, 2),
        "cpu_ms_per_event_by_process": {
            k: round(1000 * v / timed, 3) if timed > 0 else 0.0
            for k, v in {"service": d.cpu_s, **d.stack_cpu_s}.items()
        },
        "load_average_1m": round(d.load_average_1m, 1), "started_at_utc": d.started_at,
        "types": await types_on(database_url, topics[0]),
    }  # fmt: skip
    console.print(f"  {handler} {code} ({tag}): {out}")
    return out


async def raw_topic(cfg: Any, env: dict[str, str], handler: str) -> dict[str, Any]:
    await settle(cfg)
    topics = (METRICS_TOPICS[handler],)
    (n, secs), cpu = await with_cpu(cfg, raw_drain(
        env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"], topics, f"metrics-{handler}"
    ))  # fmt: skip
    out = {
        "events_per_s": round(n / secs),
        "cpu_ms_per_event_by_process": {k: round(1000 * v / n, 3) for k, v in cpu.items()},
    }
    console.print(f"  {handler} raw: {out}")
    return out


async def main(rev: str, label: str, n_events: int, rounds: int, cap: float) -> None:
    cfg = bench_config()
    with tempfile.TemporaryDirectory(prefix="bench-before-") as scratch:
        codes: list[tuple[str, dict[str, str]]] = [("after", {})]
        if rev:
            codes.insert(0, ("before", {"PYTHONPATH": extract(rev, Path(scratch))}))
        env = await asyncio.to_thread(fresh_stack, cfg)
        events = generate(backlog(n_events))
        await publish_to_kafka(env["KAFKA_BOOTSTRAP_SERVERS"], events, rate=0)
        del events
        for producer in PRODUCERS:
            await fresh_drain(
                cfg, env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"], producer,
                f"{producer}-input", {}, cap,
            )  # fmt: skip
        results: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "before_rev": rev or None, "backlog_events": n_events, "rounds": rounds,
            "load_average_1m_at_start": os.getloadavg()[0], "topics": {},
        }  # fmt: skip
        for handler in HANDLERS:
            runs: dict[str, list[dict[str, Any]]] = {code: [] for code, _ in codes}
            runs["raw"] = []
            for i in range(1, rounds + 1):
                for code, extra in codes:
                    runs[code].append(await one_topic(cfg, env, handler, code, extra, str(i), cap))
                runs["raw"].append(await raw_topic(cfg, env, handler))
            results["topics"][handler] = runs
    results["load_average_1m_at_end"] = os.getloadavg()[0]
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged[label] = results
    RESULTS.write_text(json.dumps(merged, indent=1, ensure_ascii=False) + "\n")
    if not os.environ.get("BENCH_KEEP_STACK"):
        import devstack

        devstack.down(cfg)


if __name__ == "__main__":
    asyncio.run(main(
        os.environ.get("BENCH_AB_BEFORE", ""), os.environ.get("BENCH_AB_LABEL", "topics"),
        int(os.environ.get("BENCH_EVENTS", "20000")), int(os.environ.get("BENCH_ROUNDS", "1")),
        float(os.environ.get("BENCH_DRAIN_CAP_S", "240")),
    ))  # fmt: skip
