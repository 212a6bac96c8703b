"""The order and summary of `bench.micro_turns` (no stack needed)."""

from __future__ import annotations

from bench.micro_turns import order, summary


def test_each_code_runs_first_in_half_the_pairs() -> None:
    assert order(3) == ["before", "after", "after", "before", "before", "after"]


def test_the_summary_gives_after_over_before_pair_by_pair() -> None:
    lines = summary({"before": [0.10, 0.08], "after": [0.09, 0.088]})
    assert lines[0] == "before: median 0.0900 ms/event, range 0.0800-0.1000"
    assert lines[2] == "after/before by pair: median 1.000, range 0.900-1.100, lower in 1 of 2"
