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
