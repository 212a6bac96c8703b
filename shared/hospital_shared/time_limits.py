"""When a time limit (a complaint case's, an enquiry's) is breached, one rule for every place
that decides it: the timer's alerts, the screens' states, the lists' filters, the workload.

A limit is met when its clock stops at or before its due time (`settled_at <= due_at`), so it
is breached only once the due time has passed (`due_at < now`): at the due instant itself it
can still be met, and the timer must not fire a breach for a limit the same instant counts as
met. Its warning is due from the warning point on (`warn_at <= now`)."""

from __future__ import annotations

from datetime import datetime

from hospital_shared.vocabulary import LimitState


def past_due(due_at: datetime, now: datetime) -> bool:
    """Breached at `now`: its due time has passed (met up to and at the due instant)."""
    return due_at < now


def past_warning(warn_at: datetime, now: datetime) -> bool:
    return warn_at <= now


def met_by(due_at: datetime, stopped_at: datetime) -> bool:
    """A clock stopped at `stopped_at` met its limit: not past due then."""
    return not past_due(due_at, stopped_at)


def running_state(*, warn_at: datetime, due_at: datetime, now: datetime) -> LimitState:
    """Where a limit still running stands at `now`."""
    if past_due(due_at, now):
        return LimitState.BREACHED
    return LimitState.WARNING if past_warning(warn_at, now) else LimitState.RUNNING


def past_due_sql(due_at: str, now: str) -> str:
    """`past_due` in SQL, of a column and a parameter (`past_due_sql("d.due_at", "$1")`)."""
    return f"{due_at} < {now}"


def past_warning_sql(warn_at: str, now: str) -> str:
    return f"{warn_at} <= {now}"
