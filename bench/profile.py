"""Sampling profiles of a service during a drain, with py-spy (an external sampler: the
service runs unmodified). `summarise` turns py-spy's collapsed stacks into the functions where
the time goes (inclusive share of samples)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

PROFILES = Path(__file__).resolve().parent / "profiles"


def py_spy() -> str | None:
    return shutil.which("py-spy") or next(
        (str(p) for p in [Path.home() / ".local/bin/py-spy"] if p.exists()), None
    )


# Samples per second (BENCH_PROFILE_RATE): a complaints drain lasts a few seconds, too short
# for 50 samples a second to tell its functions apart.
RATE = os.environ.get("BENCH_PROFILE_RATE", "50")


def start(pid: int, label: str, seconds: int = 25) -> subprocess.Popen[bytes] | None:
    exe = py_spy()
    if exe is None:
        return None
    PROFILES.mkdir(exist_ok=True)
    out = PROFILES / f"{label}.collapsed"
    return subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", RATE,
         "--format", "raw", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _frame(raw: str) -> str:
    """`func (path/module.py:123)` -> `func (path/module.py)`."""
    func, _, where = raw.partition(" (")
    return f"{func} ({where.split(':')[0]})"


WRAPPERS = ("<module>", "serve (", "on_batch", "_run_code", "_run_module_as_main")
OWN = ("hospital_shared/", "followup/", "complaints/", "notifications/", "metrics/")


def _package(frame: str) -> str:
    where = frame.rpartition(" (")[2].rstrip(")")
    return where.split("/")[0] if "/" in where else where


def summarise(label: str, top: int = 12) -> dict[str, list[tuple[str, float]]]:
    """Where the busy samples went: self time by package of the innermost frame, and the
    project's own functions by inclusive share."""
    path = PROFILES / f"{label}.collapsed"
    if not path.exists():
        return {}
    by_package: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or not stack:
            continue
        n = int(count)
        total += n
        frames = [_frame(f) for f in stack.split(";") if f]
        by_package[_package(frames[-1])] += n
        for frame in set(frames):
            if any(o in frame for o in OWN) and not any(w in frame for w in WRAPPERS):
                own[frame] += n
    if not total:
        return {}
    return {
        "self_time_by_package": [(k, round(n / total, 3)) for k, n in by_package.most_common(top)],
        "own_functions_inclusive": [(k, round(n / total, 3)) for k, n in own.most_common(top)],
    }
