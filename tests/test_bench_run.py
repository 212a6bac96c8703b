"""What `bench.run` prints about complaints' drain: whether it was measured on the
complaints-only backlog beside the mixed one (BENCH_COMPLAINTS), or on the mixed backlog's
one batch alone, which drains before the service is ready (no stack needed)."""

from __future__ import annotations

from typing import Any

from bench import run


def _drain_row(**extra: Any) -> dict[str, Any]:
    return {
        "events": 10835, "seconds": 1.7, "complete": True, "events_per_s": 6300,
        "events_per_s_with_startup": 2500, "raw_baseline_events_per_s": 9400,
        "ratio_to_raw": 0.67, "raw_two_rows_events_per_s": 26600, "ratio_to_raw_two_rows": 0.24,
        "cpu_ms_per_event": 0.23, "runs": [], **extra,
    }  # fmt: skip


def _printed(results: dict[str, Any]) -> str:
    with run.console.capture() as out:
        run.print_tables({"backlog_events": 20000, **results})
    return out.get()


def test_the_table_says_complaints_drained_the_complaints_only_backlog() -> None:
    backlog = {"mixed_backlog_complaints": 835, "complaints_only": 10000}
    text = _printed({
        "drain": {"complaints": _drain_row(backlog=backlog)},
        "complaints_input_drain": {"events_per_s": 13731},
    })  # fmt: skip
    assert run._backlog_note(_drain_row(backlog=backlog)) == " (mixed + 10,000 complaints-only)"
    assert "measured on 835 complaints of the mixed backlog and 10,000 of a complaints-only" in (
        " ".join(text.split())
    )
    assert "is not counted" in " ".join(text.split())
    assert "13731" not in text  # a rate of a drain that was not measured


def test_without_the_complaints_only_backlog_the_table_says_so() -> None:
    text = " ".join(_printed({"drain": {"complaints": _drain_row(backlog=None)}}).split())
    assert run._backlog_note(_drain_row(backlog=None)) == ""
    assert "measured on the mixed backlog's complaints alone (BENCH_COMPLAINTS=0)" in text


def test_complaints_is_measured_on_its_own_backlog_by_default() -> None:
    assert run.COMPLAINTS_ONLY == 10000
