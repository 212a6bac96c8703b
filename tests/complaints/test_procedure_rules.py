"""The rest of the complaint procedure as pure rules (issue 21): four eyes, the director's
approval, the validity decision, what is recorded after approval, the settlement agreement,
escalation and radiology's confirmation of an imaging dispute."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from complaints.domain import (
    AFTER_APPROVAL,
    SETTLEMENT_KINDS,
    TERMINAL,
    Category,
    InvalidField,
    NotPermitted,
    ProcedureRefused,
    Status,
    TransitionRefused,
    check_after_approval,
    check_approver,
    check_escalation,
    check_four_eyes,
    check_imaging_confirmation,
    check_settlement,
    check_settlement_allowed,
    check_transition,
    check_validity_decision,
    concerned_department,
    needs_director,
)

S = Status


# --- four eyes and the director --------------------------------------------------------------


def test_whoever_proposed_a_resolution_may_not_approve_it() -> None:
    with pytest.raises(ProcedureRefused, match="four eyes: S-SUP-01 proposed"):
        check_four_eyes(proposed_by="S-SUP-01", approver="S-SUP-01")


def test_someone_else_approves() -> None:
    check_four_eyes(proposed_by="S-AGENT-01", approver="S-SUP-01")
    check_four_eyes(proposed_by=None, approver="S-SUP-01")  # proposed before the rule existed


def test_an_escalated_case_is_approved_by_the_director_only() -> None:
    with pytest.raises(NotPermitted, match="director"):
        check_approver(role="supervisor", escalated=True)
    check_approver(role="director", escalated=True)
    check_approver(role="system", escalated=True)
    check_approver(role="supervisor", escalated=False)


@pytest.mark.parametrize(
    ("serious", "category", "expected"),
    [
        (True, "waiting_time", True),
        (False, "medical_quality", True),
        (False, "waiting_time", False),
    ],
)
def test_serious_cases_and_medical_disputes_go_to_the_director(
    serious: bool, category: str, expected: bool
) -> None:
    got = needs_director(
        serious=serious, category=category, director_categories=frozenset({"medical_quality"})
    )
    assert got is expected


@pytest.mark.parametrize("current", [s for s in Status if s not in TERMINAL])
def test_an_open_case_is_escalated_once(current: Status) -> None:
    check_escalation(current, escalated=False)
    with pytest.raises(ProcedureRefused, match="already"):
        check_escalation(current, escalated=True)


@pytest.mark.parametrize("current", sorted(TERMINAL))
def test_a_finished_case_is_not_escalated(current: Status) -> None:
    with pytest.raises(ProcedureRefused, match=current.value):
        check_escalation(current, escalated=False)


# --- validity (投诉是否成立) and the unfounded path (消除误会) -----------------------------------


def test_validity_is_decided_while_investigating_only() -> None:
    check_validity_decision(S.INVESTIGATING)
    for current in set(Status) - {S.INVESTIGATING}:
        with pytest.raises(ProcedureRefused, match=f"the case is {current.value}"):
            check_validity_decision(current)


def test_an_unfounded_decision_needs_its_reason() -> None:
    with pytest.raises(InvalidField) as missing:
        check_transition(S.INVESTIGATING, "unfounded", is_supervisor=False, has_resolution=False)
    assert missing.value.field == "note"
    step = check_transition(
        S.INVESTIGATING, "unfounded", is_supervisor=False, has_resolution=False, has_note=True
    )
    assert step.event_type == "complaint.case_found_unfounded"


def test_an_unfounded_complaint_is_closed_after_clearing_the_misunderstanding_not_withdrawn() -> (
    None
):
    with pytest.raises(InvalidField, match="note"):
        check_transition(S.UNFOUNDED, "closed", is_supervisor=True, has_resolution=False)
    with pytest.raises(TransitionRefused):
        check_transition(S.UNFOUNDED, "withdrawn", is_supervisor=True, has_resolution=False)
    closed = check_transition(
        S.UNFOUNDED, "closed", is_supervisor=False, has_resolution=False, has_note=True
    )
    assert closed.event_type == "complaint.case_closed"


def test_the_summary_sign_off_is_the_supervisors_and_needs_the_summary() -> None:
    with pytest.raises(NotPermitted):
        check_transition(
            S.COMMUNICATED, "summary_signed_off", is_supervisor=False, has_resolution=False,
            has_note=True,
        )  # fmt: skip
    with pytest.raises(InvalidField, match="note"):
        check_transition(
            S.COMMUNICATED, "summary_signed_off", is_supervisor=True, has_resolution=False
        )


# --- after approval: carrying out, accountability, the settlement ---------------------------


@pytest.mark.parametrize("current", list(Status))
def test_records_after_approval_belong_between_approval_and_closing(current: Status) -> None:
    if current in AFTER_APPROVAL:
        check_after_approval(current, "accountability")
        return
    with pytest.raises(ProcedureRefused, match=f"accountability is recorded.*{current.value}"):
        check_after_approval(current, "accountability")


def test_after_approval_is_exactly_these_steps() -> None:
    assert AFTER_APPROVAL == {
        S.RESOLUTION_APPROVED,
        S.RESOLUTION_IMPLEMENTED,
        S.COMMUNICATED,
        S.SUMMARY_SIGNED_OFF,
    }


VALID = {
    "amount": Decimal("1200.50"),
    "signed_on": date(2026, 11, 25),
    "document_ref": "DMS-2026-0042",
    "submitted_on": date(2026, 11, 20),
    "today": date(2026, 11, 26),
}


def test_a_valid_settlement_passes() -> None:
    check_settlement(**VALID)  # type: ignore[arg-type]
    check_settlement(**VALID | {"signed_on": VALID["today"]})  # type: ignore[arg-type]
    check_settlement(**VALID | {"signed_on": VALID["submitted_on"]})  # type: ignore[arg-type]
    check_settlement(**VALID | {"amount": Decimal("0.01")})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": Decimal("0")}, "amount"),
        ({"amount": Decimal("-5")}, "amount"),
        ({"amount": Decimal("10.005")}, "amount"),
        ({"amount": Decimal("10.006")}, "amount"),  # rounds up, not down
        ({"signed_on": date(2026, 11, 27)}, "signed_on"),
        ({"signed_on": date(2026, 11, 19)}, "signed_on"),
        ({"document_ref": "   "}, "document_ref"),
    ],
)
def test_an_invalid_settlement_names_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidField) as refused:
        check_settlement(**VALID | change)  # type: ignore[arg-type]
    assert refused.value.field == field


def test_a_settlement_belongs_to_a_paying_resolution_once_after_approval() -> None:
    for kind in SETTLEMENT_KINDS:
        check_settlement_allowed(S.RESOLUTION_IMPLEMENTED, resolution_kind=kind, recorded=False)
    with pytest.raises(ProcedureRefused, match="apology resolution has no settlement"):
        check_settlement_allowed(S.COMMUNICATED, resolution_kind="apology", recorded=False)
    with pytest.raises(ProcedureRefused, match="already"):
        check_settlement_allowed(S.COMMUNICATED, resolution_kind="settlement", recorded=True)
    with pytest.raises(ProcedureRefused, match="investigating"):
        check_settlement_allowed(S.INVESTIGATING, resolution_kind="settlement", recorded=False)
    assert SETTLEMENT_KINDS == {"settlement", "compensation", "refund"}


# --- imaging disputes: radiology handles and confirms ---------------------------------------


def test_an_imaging_dispute_is_handled_in_radiology_whatever_department_it_names() -> None:
    assert (
        concerned_department(Category.IMAGING_DISPUTE, "CARD", radiology_department="RAD") == "RAD"
    )
    assert concerned_department(Category.BILLING, "CARD", radiology_department="RAD") == "CARD"
    assert concerned_department(Category.BILLING, None, radiology_department="RAD") is None
    for category in set(Category) - {Category.IMAGING_DISPUTE}:  # before and after it in order
        assert concerned_department(category, "CARD", radiology_department="RAD") == "CARD"


IMAGING = {
    "category": "imaging_dispute",
    "current": S.INVESTIGATING,
    "confirmed": False,
    "actor_department": "RAD",
    "radiology_department": "RAD",
}


def test_radiology_confirms_an_imaging_dispute() -> None:
    check_imaging_confirmation(**IMAGING)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"actor_department": "CS"}, NotPermitted, r"only radiology \(RAD\)"),
        ({"actor_department": None}, NotPermitted, "radiology"),
        ({"category": "billing"}, ProcedureRefused, "only an imaging dispute"),
        ({"category": "staff_attitude"}, ProcedureRefused, "only an imaging dispute"),
        ({"confirmed": True}, ProcedureRefused, "already"),
        ({"current": S.CLOSED}, ProcedureRefused, "closed"),
        ({"current": S.WITHDRAWN}, ProcedureRefused, "withdrawn"),
    ],
)
def test_only_radiology_stops_the_imaging_clock(
    change: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        check_imaging_confirmation(**IMAGING | change)  # type: ignore[arg-type]


# --- the director's own clock ----------------------------------------------------------------


def test_the_directors_limit_alerts_the_director_and_the_others_the_supervisor() -> None:
    from complaints.timers import addressee

    escalated = {"supervisor_id": "S-SUP-01", "director_id": "S-DIR-01"}
    assert addressee(escalated, {"limit_name": "director_decision"}) == "S-DIR-01"
    assert addressee(escalated, {"limit_name": "fact_finding"}) == "S-SUP-01"
    assert (
        addressee({"supervisor_id": None, "director_id": None}, {"limit_name": "director_decision"})
        is None
    )


def test_the_director_decides_within_its_own_limit_from_escalation() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from complaints.policy import CasePolicy, default_rules

    policy = CasePolicy(default_rules(director_decision_hours=24), ZoneInfo("Asia/Shanghai"))
    start = datetime(2026, 11, 23, 2, tzinfo=UTC)
    due = policy.planned("on_escalation", start)
    assert due is not None and due.name == "director_decision"
    assert due.due_at == datetime(2026, 11, 24, 2, tzinfo=UTC)
    assert due.warn_at == datetime(2026, 11, 23, 21, 12, tzinfo=UTC)  # 80% of 24 h
    # Not a limit of a case that merely opens.
    opening = policy.opening_deadlines(start, complex_=True, category=Category.MEDICAL_QUALITY)
    assert "director_decision" not in {d.name for d in opening}


def test_ids_and_departments_are_compared_by_value_not_identity() -> None:
    """The proposer comes from the database and the approver from a token, the department from
    a token: equal text in different objects."""
    with pytest.raises(ProcedureRefused, match="four eyes"):
        check_four_eyes(proposed_by="".join(["S-SUP-", "01"]), approver="S-SUP-01")
    check_imaging_confirmation(**IMAGING | {"actor_department": "".join(["R", "AD"])})  # type: ignore[arg-type]


def test_the_directors_clock_runs_only_while_a_proposal_waits_for_the_decision() -> None:
    from complaints.domain import Status, director_clock_runs

    assert [s for s in Status if director_clock_runs(s)] == [Status.RESOLUTION_PROPOSED]
