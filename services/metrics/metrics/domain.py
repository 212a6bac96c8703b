"""Pure rules of counting: how an event's fields become bounded label values and facts.

The other services' event payloads are read as plain dicts (`event.data.model_dump()`), so a
field added to their contract never breaks counting, and a renamed one degrades to
"unknown" instead of dead-lettering the event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hospital_shared.vocabulary import Satisfaction, SmsStatus

UNKNOWN = "unknown"
MAX_LABEL_LENGTH = 40

POSITIVE_RATINGS = frozenset(s.value for s in Satisfaction if s.positive)

# Call outcomes that mean the patient was reached.
_REACHED_OUTCOMES = frozenset({"reached", "completed", "answered", "success", "contacted"})
_UNREACHABLE_OUTCOMES = frozenset({"unreachable", "not_reached", "no_answer", "failed"})

# What the `sms.*` events say became of a message.
SMS_STATUSES = frozenset(s.value for s in SmsStatus)


def field(data: Mapping[str, Any], *names: str) -> Any:
    """The first of `names` present (and not None) in `data`; nested `a.b` paths allowed."""
    for name in names:
        value: Any = data
        for part in name.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
            if value is None:
                break
        if value is not None:
            return value
    return None


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


def call_reached(outcome: Any, reached_flag: Any = None) -> bool | None:
    """True when a call outcome means the patient was reached, False when not, None if unsaid."""
    if isinstance(reached_flag, bool):
        return reached_flag
    if outcome is None:
        return None
    key = str(getattr(outcome, "value", outcome)).strip().lower()
    if key in _REACHED_OUTCOMES:
        return True
    if key in _UNREACHABLE_OUTCOMES:
        return False
    return None


def as_time(value: Any, default: datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return default
        return parsed if parsed.tzinfo else default
    return default


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
