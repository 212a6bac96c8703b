"""The complaint procedure in the KPI store: which case events count as which record, and what
each sets on the case's row (issue 21)."""

from __future__ import annotations

from datetime import UTC, datetime

from metrics import catalog
from metrics.kpi import KPI_KEYS, evaluate_all
from metrics.procedure import RECORDS, procedure_fields, procedure_kind
from metrics.settings import DOMAIN_TARGETS

AT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
NEW = (
    "complaint_founded_rate",
    "complaint_unfounded_closed_rate",
    "complaint_director_escalation_rate",
    "complaint_accountability_rate",
    "complaint_settlement_rate",
)


def fields(step: str, *, previous: str | None = None, validity: str | None = None) -> dict[str, object]:  # fmt: skip
    return procedure_fields(step, previous_status=previous, validity=validity, at=AT)


def test_each_procedure_event_counts_as_its_record() -> None:
    assert {s: procedure_kind(s, previous_status=None) for s in sorted(RECORDS)} == {
        "accountability_recorded": "accountability",
        "escalated": "director_escalation",
        "imaging_confirmed": "radiology_confirmation",
        "settlement_recorded": "settlement",
        "validity_decided": "founded",
    }
    assert procedure_kind("found_unfounded", previous_status="investigating") == "unfounded"


def test_closing_counts_as_an_unfounded_closure_only_from_unfounded() -> None:
    assert procedure_kind("closed", previous_status="unfounded") == "unfounded_closed"
    assert procedure_kind("closed", previous_status="summary_signed_off") is None
    assert procedure_kind("acknowledged", previous_status="unfounded") is None
    assert fields("closed", previous="unfounded") == {"unfounded_closed_at": AT}
    assert fields("closed", previous="summary_signed_off") == {}


def test_lifecycle_steps_are_no_records() -> None:
    for step in ("opened", "resolution_implemented", "summary_signed_off", "assigned"):
        assert step not in RECORDS and procedure_kind(step, previous_status=None) is None
    assert "found_unfounded" not in RECORDS  # a lifecycle step that is also counted


def test_each_record_stamps_its_column_and_the_validity_is_kept_once_decided() -> None:
    assert fields("escalated") == {"escalated_at": AT}
    assert fields("settlement_recorded", validity="founded") == {
        "settlement_at": AT,
        "validity": "founded",
    }
    assert fields("accountability_recorded") == {"accountability_at": AT}
    assert fields("imaging_confirmed") == {"imaging_confirmed_at": AT}
    assert fields("found_unfounded", validity="unfounded") == {"validity": "unfounded"}
    assert fields("acknowledged", validity=None) == {}
    assert fields("acknowledged", validity="maybe") == {}


def test_the_procedure_kpis_are_in_the_report_measured_without_target() -> None:
    assert set(NEW) <= set(KPI_KEYS)
    assert all(DOMAIN_TARGETS[k] is None for k in NEW)
    results = {r.key: r for r in evaluate_all({"complaint_founded_rate": (3, 4)}, DOMAIN_TARGETS)}
    assert results["complaint_founded_rate"].value == 0.75
    assert results["complaint_founded_rate"].met is None
    assert results["complaint_settlement_rate"].value is None  # nothing to measure
    assert catalog.COMPLAINT_PROCEDURE in catalog.COUNTERS
    assert catalog.COMPLAINT_PROCEDURE.labels == ("department", "kind")


def test_steps_and_statuses_read_from_events_are_compared_by_value() -> None:
    """The step is cut from the event type and the status read from JSON: new strings, not
    interned literals."""
    closed, unfounded = "".join(["clo", "sed"]), "".join(["un", "founded"])
    assert procedure_kind(closed, previous_status=unfounded) == "unfounded_closed"
    assert fields(closed, previous=unfounded) == {"unfounded_closed_at": AT}
