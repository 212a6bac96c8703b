"""Benchmarks: backlog drain per service against a raw baseline, steady latency, memory,
and follow-up scaling. `make bench` runs `python -m bench.run`."""
