"""A change's effect on one service's backlog drain, measured in one run: the service drains
the same backlog with the code of an earlier revision ("before", extracted with `git
archive` into a scratch folder and put first on the service's PYTHONPATH) and with the
checkout's ("after"), interleaved (before, after, raw, before, after, raw, ...), every run
from an empty schema in a consumer group of its own, and the raw two-row baseline
(bench/baseline.py) drains the same topics after each pair (for complaints, its own-row raw
baseline too, `raw_complaints_drain`). On this shared two-core machine
the speed drifts by a third within minutes; interleaving lets both codes and the raw client
see it alike, and the ratios to the raw client of the same round are what compare.

    BENCH_AB_BEFORE=<rev> BENCH_AB_SERVICE=notifications BENCH_AB_LABEL=<name> \\
        BENCH_EVENTS=40000 BENCH_ROUNDS=3 uv run python -m bench.ab_drain

A setting's effect instead of the code's: BENCH_AB_BEFORE=HEAD and the settings of either side
in BENCH_AB_BEFORE_SETTINGS / BENCH_AB_AFTER_SETTINGS ("NAME=value NAME=value", beside
`drain_env`'s, which they override). "Before" runs HEAD as committed and "after" the working
tree: with changes not committed, the A/B compares code too.

Runs on the bench stack (`.stack-bench`, ports + BENCH_PORT_SHIFT) from empty data. The
services whose events the measured one consumes (follow-up, complaints; for metrics,
notifications too) drain first with the checkout's code, so the backlog is the same for
every run. Writes the result under its label
in bench/ab_results.json (peak RSS of each run too: each run is a new process)."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.baseline import raw_complaints_drain, raw_drain
from bench.drain import CONSUMED, measuring_code_of
from bench.rss import publish_complaints
from bench.run import backlog, console, drain_env, fresh_drain, settle, with_cpu
from bench.stack import REPO, bench_config, fresh_stack, mb
from simulator.publish import publish_to_kafka
from simulator.stream import generate, summarise

RESULTS = Path(__file__).resolve().parent / "ab_results.json"
# BENCH_AB_COMPLAINTS: complaints published beside the mixed backlog when complaints is
# measured (bench.rss's complaints-only backlog). The mixed backlog of 20,000 events holds
# ~830 complaints, one consumed batch: a drain that can end before the service says it is
# ready, when its CPU and time are no longer measured.
EXTRA_COMPLAINTS = int(os.environ.get("BENCH_AB_COMPLAINTS", "0"))


def _settings(raw: str) -> dict[str, str]:
    """`K=V K=V` -> {K: V}: settings one side runs with, beside drain_env's."""
    bad = [item for item in raw.split() if "=" not in item[1:]]
    if bad:
        raise SystemExit(f"a setting is NAME=value, not {bad[0]!r}")
    return dict(item.split("=", 1) for item in raw.split())


# A setting's effect (BENCH_AB_BEFORE=HEAD): e.g. BENCH_AB_BEFORE_SETTINGS="FOLLOWUP_X=1".
BEFORE_SETTINGS = _settings(os.environ.get("BENCH_AB_BEFORE_SETTINGS", ""))
AFTER_SETTINGS = _settings(os.environ.get("BENCH_AB_AFTER_SETTINGS", ""))
PRODUCERS = ("followup", "complaints")  # their events are the others' input
# The services drained before the measured one, so that its backlog is the one `bench.run`
# gives it: metrics also reads notifications' SMS statuses (7,000 to 19,000 of them after a
# 20,000-event backlog, as far as notifications' dispatcher got in expiring the backlog's
# old messages during its drain), which an A/B of metrics without them never measured.
INPUT_OF = {"metrics": (*PRODUCERS, "notifications")}


def extract(rev: str, into: Path) -> str:
    """The revision's shared library and services under `into`; the PYTHONPATH that puts
    them before the checkout's (editable installs are plain path entries after it)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "shared", "services"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    paths = [into / "shared", *sorted(p for p in (into / "services").iterdir() if p.is_dir())]
    return os.pathsep.join(str(p) for p in paths)


async def one_run(
    cfg: Any, env: dict[str, str], name: str, code: str, extra: dict[str, str], tag: str,
    cap: float,
) -> dict[str, Any]:  # fmt: skip
    """One drain of `name`'s backlog from an empty schema with `code` ('before'/'after')."""
    bootstrap, database_url = env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"]
    group = f"{name}-ab-{code}-{tag}"
    with measuring_code_of(name, extra):
        d, sampler = await fresh_drain(cfg, bootstrap, database_url, name, group, extra, cap)
    marks = sampler.marks.get(name, {})
    out = {
        "events": d.events, "events_per_s": round(d.rate), "complete": d.complete,
        "committed_at_start": d.committed_at_start,
        "cpu_ms_per_event": round(d.cpu_ms_per_event, 3),
        "cpu_ms_per_event_by_process": d.cpu_ms_per_event_by_process(),
        "peak_rss_mb": mb(sampler.peak.get(name, 0)),
        "rss_at_100k_mb": mb(marks.get("rss_at_100k", 0)),
        "rss_at_end_mb": mb(marks.get("rss_at_end", 0)),
        "load_average_1m": round(os.getloadavg()[0], 1), "started_at_utc": d.started_at,
        "side_records": d.side_records, "side_work": d.side_work,
        "held_settings": sorted(k for k in drain_env(name) if k.startswith(name.upper())),
        "settings": {k: v for k, v in extra.items() if k != "PYTHONPATH"},
    }  # fmt: skip
    console.print(f"  {name} {code} ({tag}): {out}")
    return out


async def own_rows_raw(cfg: Any, env: dict[str, str], round_: int) -> dict[str, Any]:
    """Complaints' own-row raw baseline (`raw_complaints_drain`) once, with its CPU."""
    await settle(cfg)
    (n, secs), cpu = await with_cpu(
        cfg, raw_complaints_drain(env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"])
    )
    out = {
        "events_per_s": round(n / secs),
        "cpu_ms_per_event_by_process": {k: round(1000 * v / n, 3) for k, v in cpu.items()},
    }
    console.print(f"  raw own-row baseline (round {round_}): {out}")
    return out


def summary(runs: dict[str, list[dict[str, Any]]], raw: list[float]) -> dict[str, Any]:
    """Median rate, CPU per event and peak RSS of each code, and each round's ratios."""
    out: dict[str, Any] = {"raw_two_rows_median_events_per_s": round(statistics.median(raw))}
    for code, rs in runs.items():
        ratios = [r["events_per_s"] / w for r, w in zip(rs, raw, strict=True)]
        out[code] = {
            "median_events_per_s": statistics.median(r["events_per_s"] for r in rs),
            "median_ratio_to_raw_same_round": round(statistics.median(ratios), 3),
            "ratios_to_raw_by_round": [round(x, 3) for x in ratios],
            "median_cpu_ms_per_event": statistics.median(r["cpu_ms_per_event"] for r in rs),
            "max_peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
        }
    return out


async def main(name: str, rev: str, label: str, n_events: int, rounds: int, cap: float) -> None:
    cfg = bench_config()
    with tempfile.TemporaryDirectory(prefix="bench-before-") as scratch:
        before = {"PYTHONPATH": extract(rev, Path(scratch))}
        env = await asyncio.to_thread(fresh_stack, cfg)
        events = generate(backlog(n_events))
        results: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "service": name, "before_rev": rev, "after_rev": "the checkout",
            "load_average_1m_at_start": os.getloadavg()[0],
            "backlog_events": n_events, "backlog_mix": summarise(events), "rounds": rounds,
            "order": "per round: before, after, raw two-row baseline (complaints: then own-row)",
        }  # fmt: skip
        await publish_to_kafka(env["KAFKA_BOOTSTRAP_SERVERS"], events, rate=0)
        del events
        if name == "complaints" and EXTRA_COMPLAINTS:  # see EXTRA_COMPLAINTS
            results["extra_complaints"] = await publish_complaints(
                env["KAFKA_BOOTSTRAP_SERVERS"], EXTRA_COMPLAINTS
            )
        for producer in INPUT_OF.get(name, PRODUCERS):
            if producer != name:
                await one_run(cfg, env, producer, "after", {}, "input", cap)
        runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        raw: list[float] = []
        raw_cpu: list[dict[str, float]] = []
        own_raw: list[dict[str, Any]] = []
        sides = {"before": before | BEFORE_SETTINGS, "after": AFTER_SETTINGS}
        results["settings"] = {"before": BEFORE_SETTINGS, "after": AFTER_SETTINGS}
        for i in range(1, rounds + 1):
            for code, extra in sides.items():
                runs[code].append(await one_run(cfg, env, name, code, extra, str(i), cap))
            await settle(cfg)
            (n, secs), cpu = await with_cpu(cfg, raw_drain(
                env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"], CONSUMED[name], name
            ))  # fmt: skip
            raw.append(n / secs)
            raw_cpu.append({k: round(1000 * v / n, 3) for k, v in cpu.items()})
            console.print(f"  raw two-row baseline (round {i}): {n / secs:.0f}/s, {raw_cpu[-1]}")
            if name == "complaints":  # its target is also to its own rows' raw (bench.run)
                own_raw.append(await own_rows_raw(cfg, env, i))
    results |= {
        "runs": runs, "raw_two_rows_events_per_s": [round(r) for r in raw],
        "raw_cpu_ms_per_event_by_process": raw_cpu,
    }  # fmt: skip
    results |= summary(runs, raw)
    if own_raw:
        results["raw_own_rows"] = own_raw
        for code, rs in runs.items():
            results[code]["ratios_to_raw_own_rows_by_round"] = [
                round(r["events_per_s"] / o["events_per_s"], 3)
                for r, o in zip(rs, own_raw, strict=True)
            ]
    results["load_average_1m_at_end"] = os.getloadavg()[0]
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged[label] = results
    RESULTS.write_text(json.dumps(merged, indent=1, ensure_ascii=False) + "\n")
    console.print({k: results[k] for k in ("before", "after")})
    if not os.environ.get("BENCH_KEEP_STACK"):
        import devstack

        devstack.down(cfg)


if __name__ == "__main__":
    asyncio.run(main(
        os.environ.get("BENCH_AB_SERVICE", "notifications"), os.environ["BENCH_AB_BEFORE"],
        os.environ.get("BENCH_AB_LABEL", "change"), int(os.environ.get("BENCH_EVENTS", "40000")),
        int(os.environ.get("BENCH_ROUNDS", "3")),
        float(os.environ.get("BENCH_DRAIN_CAP_S", "240")),
    ))  # fmt: skip
