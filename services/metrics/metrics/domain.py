"""Pure rules of counting: how an event's fields become bounded label values and facts.

The handlers read the other services' payloads as their contract models (received.py): the
consumer validated them when decoding, so a field is an attribute and a closed set an enum.
A label is still bounded here, as a free-text field (a department code, a template) may hold
anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hospital_shared.vocabulary import Satisfaction

UNKNOWN = "unknown"
MAX_LABEL_LENGTH = 40

POSITIVE_RATINGS = frozenset(s.value for s in Satisfaction if s.positive)


def label(value: Any, *, allowed: frozenset[str] | None = None, default: str = UNKNOWN) -> str:
    """A bounded label value: known values pass, anything else becomes `default`."""
    if value is None:
        return default
    text = str(getattr(value, "value", value)).strip()
    if not text:
        return default
    if allowed is not None:
        return text if text in allowed else default
    return text[:MAX_LABEL_LENGTH]


def rating(value: Any) -> str | None:
    """A satisfaction answer in the vocabulary's spelling (`Satisfaction`: its own values, and
    满意 / 基本满意 / 不满意 of events published before issue 18's rename), or None; a bool is
    satisfied or not."""
    if value is None:
        return None
    if isinstance(value, bool):
        return (Satisfaction.SATISFIED if value else Satisfaction.DISSATISFIED).value
    key = str(getattr(value, "value", value)).strip().lower().replace(" ", "_").replace("-", "_")
    try:
        return Satisfaction(key).value
    except ValueError:
        return None


def label_key(labels: Mapping[str, str]) -> str:
    """The canonical text of a label set, the key of its row in `counter_totals`."""
    return json.dumps(dict(sorted(labels.items())), ensure_ascii=False, separators=(",", ":"))


def served_total(value: int, age_s: float, zero_for_s: float) -> int:
    """The total a counter series is served with: 0 while the series is younger than
    `zero_for_s` seconds, then its total. Prometheus's `increase()` cannot see a series'
    first sample as an increase, so a series born at 1 lost the first complaint of every new
    label combination on the daily panels; served at 0 for a few scrapes first, the step to
    1 is an increase like any other. (Infinite age: a series older than the migration.)"""
    return 0 if age_s < zero_for_s else value
