"""The complaint procedure in the KPI store (issue 21): what each case event of the procedure
adds to the case's row and to the live counter, and the monthly report's counts.

`procedure_kind` and `procedure_fields` are pure (the event's step, validity, previous status
in, labels and columns out); `procedure_counts` is the report's SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from hospital_shared.vocabulary import CaseStatus, Validity
from metrics.kpi import Window

# Case events that record a fact of the procedure without moving the case along its lifecycle
# (they are not counted as lifecycle steps).
RECORDS = frozenset(
    {
        "validity_decided",
        "escalated",
        "imaging_confirmed",
        "settlement_recorded",
        "accountability_recorded",
    }
)
# The live counter's `kind` for each procedure step.
_KINDS = {
    "validity_decided": "founded",
    "found_unfounded": "unfounded",
    "escalated": "director_escalation",
    "imaging_confirmed": "radiology_confirmation",
    "settlement_recorded": "settlement",
    "accountability_recorded": "accountability",
}
# The column a step stamps with its time.
_STAMPS = {
    "escalated": "escalated_at",
    "imaging_confirmed": "imaging_confirmed_at",
    "settlement_recorded": "settlement_at",
    "accountability_recorded": "accountability_at",
}


def procedure_kind(step: str, *, previous_status: str | None) -> str | None:
    """The `kind` of `hospital_complaint_procedure_records_total` a case step counts as (None:
    not one): closing an unfounded complaint (after 消除误会) is `unfounded_closed`."""
    if step == "closed" and previous_status == CaseStatus.UNFOUNDED:
        return "unfounded_closed"
    return _KINDS.get(step)


def procedure_fields(
    step: str,
    *,
    previous_status: str | None,
    validity: str | None,
    at: datetime,
) -> dict[str, Any]:
    """The case row's procedure columns this event sets (validity once decided, a step's
    time; the imaging limit's outcome is kept with the other clocks, in `lifecycle`)."""
    fields: dict[str, Any] = {}
    if validity in frozenset(Validity):
        fields["validity"] = validity
    if step in _STAMPS:
        fields[_STAMPS[step]] = at
    if procedure_kind(step, previous_status=previous_status) == "unfounded_closed":
        fields["unfounded_closed_at"] = at
    return fields


# Cases opened in the period (not withdrawn), as the other complaint KPIs.
_PROCEDURE = """
SELECT count(*) FILTER (WHERE validity = 'founded') AS founded,
       count(*) FILTER (WHERE validity IS NOT NULL) AS decided,
       count(*) FILTER (WHERE validity = 'unfounded') AS unfounded,
       count(*) FILTER (WHERE validity = 'unfounded' AND unfounded_closed_at IS NOT NULL)
           AS unfounded_closed,
       count(*) FILTER (WHERE escalated_at IS NOT NULL) AS escalated,
       count(*) AS cases,
       count(*) FILTER (WHERE validity = 'founded' AND accountability_at IS NOT NULL)
           AS accountable,
       count(*) FILTER (WHERE validity = 'founded' AND settlement_at IS NOT NULL) AS settled
FROM complaint_cases
WHERE opened_seen AND opened_at >= $1 AND opened_at < $2 AND status <> 'withdrawn'
  AND ($3::text IS NULL OR department = $3)
"""


async def procedure_counts(
    conn: asyncpg.Connection, window: Window, *, department: str | None
) -> dict[str, tuple[int, int]]:
    """The procedure KPIs: key -> (numerator, denominator)."""
    p = await conn.fetchrow(_PROCEDURE, window.start, window.end, department)
    assert p is not None
    return {
        "complaint_founded_rate": (p["founded"], p["decided"]),
        "complaint_unfounded_closed_rate": (p["unfounded_closed"], p["unfounded"]),
        "complaint_director_escalation_rate": (p["escalated"], p["cases"]),
        "complaint_accountability_rate": (p["accountable"], p["founded"]),
        "complaint_settlement_rate": (p["settled"], p["founded"]),
    }
