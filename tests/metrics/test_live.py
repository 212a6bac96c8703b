"""The live snapshot: series Prometheus needs before the first event of their kind."""

from __future__ import annotations

from metrics import catalog
from metrics.lifecycle import LIMITS
from metrics.live import Samples, add_zero_limit_series


def test_every_limit_of_a_department_with_cases_starts_at_zero() -> None:
    breach = ({"department": "CS", "limit": "first_response"}, 2.0)
    counters: dict[str, Samples] = {
        catalog.COMPLAINTS.name: [
            ({"department": "CS", "category": "billing", "channel": "phone"}, 3.0),
            ({"department": "CARD", "category": "other", "channel": "online"}, 1.0),
        ],
        catalog.COMPLAINT_BREACHES.name: [breach],
    }
    add_zero_limit_series(counters)
    breaches = counters[catalog.COMPLAINT_BREACHES.name]
    warnings = counters[catalog.COMPLAINT_WARNINGS.name]
    assert len(breaches) == len(warnings) == 2 * len(LIMITS)
    assert breach in breaches  # a counted total is kept, not reset
    assert ({"department": "CARD", "limit": "fact_finding"}, 0.0) in breaches
    assert ({"department": "CS", "limit": "first_response"}, 0.0) in warnings
