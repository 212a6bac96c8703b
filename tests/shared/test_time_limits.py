"""One rule for a breach: a limit is met up to and at its due time, so it is breached only
once that time has passed; every screen and alert takes it from here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from complaints.views import _time_limit
from hospital_shared.time_limits import met_by, past_due, running_state

DUE = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
WARN = DUE - timedelta(hours=2)
TICK = timedelta(microseconds=1)


def test_at_the_due_instant_a_limit_is_met_and_not_breached() -> None:
    assert met_by(DUE, DUE) and not past_due(DUE, DUE)
    assert running_state(warn_at=WARN, due_at=DUE, now=DUE) == "warning"
    assert running_state(warn_at=WARN, due_at=DUE, now=DUE + TICK) == "breached"
    assert running_state(warn_at=WARN, due_at=DUE, now=WARN) == "warning"
    assert running_state(warn_at=WARN, due_at=DUE, now=WARN - TICK) == "running"


def test_a_case_shows_a_limit_at_its_due_instant_as_warning_not_breached() -> None:
    running = {
        "limit_name": "first_response", "cycle": 1, "starts_at": DUE - timedelta(hours=24),
        "due_at": DUE, "warn_at": WARN, "settled_at": None, "outcome": None,
        "warned_at": WARN, "breached_at": None,
    }  # fmt: skip
    assert _time_limit(running, DUE)["state"] == "warning"
    assert _time_limit(running, DUE + TICK)["state"] == "breached"
