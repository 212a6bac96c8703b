"""The bench's memory figures: a service's peak resident memory is its kernel high-water mark,
so a spike between two samples still counts (a real child process, no stack needed)."""

from __future__ import annotations

import subprocess
import sys
import time
from types import SimpleNamespace
from typing import Any

import pytest

from bench.stack import RssSampler

SPIKE = """
import sys, time
block = bytearray(120 * 1024 * 1024)   # touched: 120 MB resident
for i in range(0, len(block), 4096):
    block[i] = 1
del block
print("freed", flush=True)
time.sleep(30)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/<pid>/status")
def test_peak_counts_a_spike_no_sample_saw() -> None:
    child = subprocess.Popen([sys.executable, "-c", SPIKE], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "freed"
        sampler = RssSampler()
        proc: Any = SimpleNamespace(label="svc", process=child)
        sampler.watch(proc)
        time.sleep(0.2)
        now_mb = sampler.current("svc") / 2**20
        sampler.mark("svc", "rss_at_end")
        peak_mb = sampler.peak["svc"] / 2**20
        assert now_mb < 60, f"the child should have given the block back, has {now_mb:.0f} MB"
        assert peak_mb >= 120, f"peak {peak_mb:.0f} MB misses the 120 MB spike"
        assert sampler.marks["svc"]["rss_at_end"] == pytest.approx(now_mb * 2**20, rel=0.2)
    finally:
        child.kill()
        child.wait()


def test_a_drain_records_rss_at_each_step_and_marks_100k_once() -> None:
    """The RSS curve of a drain: one point per 20,000 events passed (a poll that skips a step
    records once), the 100k mark taken the first time the count passes it."""
    from bench.drain import _Progress

    sampler = RssSampler()
    proc: Any = SimpleNamespace(label="svc", process=SimpleNamespace(pid=0))
    sampler.watch(proc)
    sampler.current = lambda label: 50 * 2**20  # type: ignore[method-assign]
    sampler.high_water = lambda label: 60 * 2**20  # type: ignore[method-assign]
    progress = _Progress(sampler, [proc])
    for done in (0, 5_000, 19_999, 20_000, 21_000, 61_000, 99_000, 100_500, 100_600, 130_000):
        progress.passed(done)
    assert [e for e, _ in sampler.series["svc"]] == [0, 20_000, 61_000, 99_000, 100_500, 130_000]
    assert sampler.marks["svc"] == {"rss_at_100k": 50 * 2**20}
    assert sampler.peak["svc"] == 60 * 2**20


def test_the_changed_drain_runs_with_the_changed_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """BENCH_RSS_CHANGE's second drain starts the service with the changed environment: the
    session's first A/Bs passed none, and compared two identical drains."""
    import asyncio

    from bench import rss

    seen: list[dict[str, str]] = []

    async def fake_drain(*args: Any) -> tuple[Any, Any]:
        seen.append(args[5])
        raise RuntimeError("stop here")

    monkeypatch.setattr(rss, "fresh_drain", fake_drain)
    env = {"KAFKA_BOOTSTRAP_SERVERS": "x", "DATABASE_URL": "y"}
    with pytest.raises(RuntimeError, match="stop here"):
        asyncio.run(rss.one(None, env, "notifications", 1.0, "g", {"MALLOC_ARENA_MAX": "2"}))
    assert seen == [{"MALLOC_ARENA_MAX": "2"}]
