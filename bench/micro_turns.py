"""A change's effect on notifications' own CPU per event, the replays of two codes taking
turns: one warm process per code (an earlier revision, extracted as `bench.ab_drain` does and
put first on its PYTHONPATH, and the checkout's) replays the captured backlog
(`bench.notifications_micro`), before, after, after, before, ... so that both meet the
machine's drift alike. On the shared two-core machine one replay's CPU per event moves by
±10% from run to run; the ratio of each pair is what compares.

    BENCH_PORT_SHIFT=16000 uv run python -m bench.micro_turns <rev> [--pairs 10]

Needs what `bench.notifications_micro run` needs (the bench stack, a captured backlog).
Session 28 (docs/bench.md) measured its changes this way."""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.ab_drain import extract
from bench.notifications_micro import RECORDS, one_round
from hospital_shared.runtime import settle_heap

SIDES = ("before", "after")


def order(pairs: int) -> list[str]:
    """before, after, after, before, ...: each code as often first as second."""
    return [side for i in range(pairs) for side in (SIDES if i % 2 == 0 else SIDES[::-1])]


def summary(cpu: dict[str, list[float]]) -> list[str]:
    """Each code's median and range, and after/before pair by pair."""
    lines = [
        f"{side}: median {statistics.median(v):.4f} ms/event, range {min(v):.4f}-{max(v):.4f}"
        for side, v in cpu.items()
    ]
    ratios = [a / b for a, b in zip(cpu["after"], cpu["before"], strict=True)]
    lines.append(
        f"after/before by pair: median {statistics.median(ratios):.3f},"
        f" range {min(ratios):.3f}-{max(ratios):.3f}, lower in {sum(r < 1 for r in ratios)}"
        f" of {len(ratios)}"
    )
    return lines


def replayer(batch: int) -> None:
    """A warm replay a line on stdin; its CPU ms per event on stdout."""
    records = pickle.loads(RECORDS.read_bytes())
    settle_heap()
    print("ready", flush=True)
    for _ in sys.stdin:
        print(f"{asyncio.run(one_round(records, batch, None)):.5f}", flush=True)


def turns(rev: str, pairs: int, batch: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        paths = {"before": extract(rev, Path(scratch)), "after": ""}
        procs = {}
        for side, path in paths.items():
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (path, env.get("PYTHONPATH")) if p)
            proc = procs[side] = subprocess.Popen(
                [sys.executable, "-m", "bench.micro_turns", "--replayer", f"--batch={batch}"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
            )  # fmt: skip
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        cpu: dict[str, list[float]] = {side: [] for side in SIDES}
        for side in order(pairs):
            proc = procs[side]
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
            cpu[side].append(float(proc.stdout.readline()))
            print(f"{side:6s} {cpu[side][-1]:.4f} (load {os.getloadavg()[0]:.1f})", flush=True)
        for proc in procs.values():
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait()
    print("\n".join(summary(cpu)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rev", nargs="?")
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--replayer", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replayer:
        replayer(args.batch)
    elif args.rev:
        turns(args.rev, args.pairs, args.batch)
    else:
        parser.error("the revision to compare with is needed")


if __name__ == "__main__":
    main()
