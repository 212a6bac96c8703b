"""The lifecycle transition table: every allowed step and every refused one."""

from __future__ import annotations

import itertools

import pytest

from complaints.domain import (
    TRANSITIONS,
    Category,
    MissingResolution,
    NotPermitted,
    Priority,
    Status,
    TransitionRefused,
    allowed_next,
    case_number,
    check_transition,
    missing_step,
    priority_for,
    steps_for,
)

S = Status
# The lifecycle as the hospitals' manuals describe it, written out independently of the code.
EXPECTED: dict[Status, set[Status]] = {
    S.RECEIVED: {S.ACKNOWLEDGED, S.WITHDRAWN},
    S.ACKNOWLEDGED: {S.INVESTIGATING, S.WITHDRAWN},
    S.INVESTIGATING: {S.RESOLUTION_PROPOSED, S.UNFOUNDED, S.WITHDRAWN},
    S.RESOLUTION_PROPOSED: {S.RESOLUTION_APPROVED, S.INVESTIGATING, S.WITHDRAWN},
    # A founded complaint closes only after the resolution is carried out (实施处理方案) and
    # the supervisor signs off the summary (总结批示): neither step can be skipped.
    S.RESOLUTION_APPROVED: {S.RESOLUTION_IMPLEMENTED},
    S.RESOLUTION_IMPLEMENTED: {S.COMMUNICATED},
    S.COMMUNICATED: {S.SUMMARY_SIGNED_OFF, S.REOPENED},
    S.SUMMARY_SIGNED_OFF: {S.CLOSED, S.REOPENED},
    S.CLOSED: {S.REOPENED},
    S.REOPENED: {S.ACKNOWLEDGED, S.WITHDRAWN},
    # An unfounded complaint is closed once the misunderstanding is cleared up, never withdrawn.
    S.UNFOUNDED: {S.CLOSED, S.INVESTIGATING},
    S.WITHDRAWN: set(),
}
ALL_PAIRS = list(itertools.product(Status, Status))
# The event each step publishes: named for where the case goes, whichever status it left.
EVENT_OF: dict[Status, str] = {
    S.ACKNOWLEDGED: "complaint.case_acknowledged",
    S.INVESTIGATING: "complaint.case_investigation_started",
    S.RESOLUTION_PROPOSED: "complaint.case_resolution_proposed",
    S.RESOLUTION_APPROVED: "complaint.case_resolution_approved",
    S.COMMUNICATED: "complaint.case_communicated",
    S.CLOSED: "complaint.case_closed",
    S.REOPENED: "complaint.case_reopened",
    S.WITHDRAWN: "complaint.case_withdrawn",
    S.UNFOUNDED: "complaint.case_found_unfounded",
    S.RESOLUTION_IMPLEMENTED: "complaint.case_resolution_implemented",
    S.SUMMARY_SIGNED_OFF: "complaint.case_summary_signed_off",
}


def test_the_table_is_the_documented_lifecycle() -> None:
    assert {s: {step.to for step in steps} for s, steps in TRANSITIONS.items()} == EXPECTED


@pytest.mark.parametrize(("current", "wanted"), [(a, b) for a, b in ALL_PAIRS if b in EXPECTED[a]])
def test_every_allowed_step_is_taken_by_a_supervisor(current: Status, wanted: Status) -> None:
    step = check_transition(
        current, wanted.value, is_supervisor=True, has_resolution=True, has_note=True
    )
    assert step.to == wanted
    assert step.event_type == EVENT_OF[wanted]


def test_a_closed_case_that_reopens_says_reopened_not_closed() -> None:
    """The dissatisfied patient's case goes back to work: the staff and the KPIs must see a
    reopening (a `case_closed` here would count the case closed twice)."""
    step = check_transition(S.CLOSED, "reopened", is_supervisor=False, has_resolution=False)
    assert step.event_type == "complaint.case_reopened"


@pytest.mark.parametrize(
    ("current", "wanted"), [(a, b) for a, b in ALL_PAIRS if b not in EXPECTED[a]]
)
def test_every_other_step_is_refused_naming_the_allowed_ones(
    current: Status, wanted: Status
) -> None:
    with pytest.raises(TransitionRefused) as refused:
        check_transition(current, wanted.value, is_supervisor=True, has_resolution=True)
    assert sorted(refused.value.allowed) == sorted(s.value for s in EXPECTED[current])
    for allowed in refused.value.allowed:
        assert allowed in str(refused.value)


def test_an_unknown_status_is_refused_too() -> None:
    with pytest.raises(TransitionRefused) as refused:
        check_transition(S.RECEIVED, "solved", is_supervisor=True, has_resolution=True)
    assert refused.value.allowed == ["acknowledged", "withdrawn"]


def test_a_withdrawn_case_says_it_is_final() -> None:
    with pytest.raises(TransitionRefused, match="final"):
        check_transition(S.WITHDRAWN, "received", is_supervisor=True, has_resolution=True)


def test_only_a_supervisor_approves_a_resolution() -> None:
    with pytest.raises(NotPermitted):
        check_transition(
            S.RESOLUTION_PROPOSED, "resolution_approved", is_supervisor=False, has_resolution=True
        )


def test_only_a_supervisor_sends_a_proposal_back_to_investigation() -> None:
    with pytest.raises(NotPermitted):
        check_transition(
            S.RESOLUTION_PROPOSED, "investigating", is_supervisor=False, has_resolution=True
        )


@pytest.mark.parametrize(
    "current", [s for s, targets in EXPECTED.items() if S.WITHDRAWN in targets]
)
def test_only_a_supervisor_withdraws_a_case(current: Status) -> None:
    with pytest.raises(NotPermitted, match="supervisor"):
        check_transition(current, "withdrawn", is_supervisor=False, has_resolution=True)


# Steps only a supervisor takes: deciding on a proposal, withdrawing, signing off the summary,
# sending an unfounded decision back to fact-finding.
SUPERVISOR_STEPS = {
    (S.RESOLUTION_PROPOSED, S.RESOLUTION_APPROVED),
    (S.RESOLUTION_PROPOSED, S.INVESTIGATING),
    (S.COMMUNICATED, S.SUMMARY_SIGNED_OFF),
    (S.UNFOUNDED, S.INVESTIGATING),
} | {(s, S.WITHDRAWN) for s in EXPECTED}


def test_a_handler_may_take_every_other_step() -> None:
    for current, targets in EXPECTED.items():
        for target in targets:
            if (current, target) in SUPERVISOR_STEPS:
                continue
            check_transition(
                current, target.value, is_supervisor=False, has_resolution=True, has_note=True
            )


@pytest.mark.parametrize(
    ("current", "target"),
    sorted(SUPERVISOR_STEPS & {(a, b) for a, targets in EXPECTED.items() for b in targets}),
)
def test_a_handler_may_not_take_a_supervisors_step(current: Status, target: Status) -> None:
    with pytest.raises(NotPermitted, match=target.value):
        check_transition(
            current, target.value, is_supervisor=False, has_resolution=True, has_note=True
        )


def test_proposing_needs_the_resolution() -> None:
    with pytest.raises(MissingResolution):
        check_transition(
            S.INVESTIGATING, "resolution_proposed", is_supervisor=False, has_resolution=False
        )


def test_allowed_next_lists_the_table_rows_in_order() -> None:
    assert allowed_next(S.COMMUNICATED) == ["reopened", "summary_signed_off"]


def test_a_founded_complaint_does_not_close_before_the_summary_is_signed_off() -> None:
    with pytest.raises(TransitionRefused, match="summary_signed_off must come first") as refused:
        check_transition(S.COMMUNICATED, "closed", is_supervisor=True, has_resolution=True)
    assert refused.value.missing == "summary_signed_off"


def test_an_approved_resolution_is_carried_out_before_it_is_communicated() -> None:
    for wanted in ("communicated", "summary_signed_off", "closed"):
        with pytest.raises(TransitionRefused) as refused:
            check_transition(S.RESOLUTION_APPROVED, wanted, is_supervisor=True, has_resolution=True)
        assert refused.value.missing == "resolution_implemented", wanted


def test_the_missing_step_is_the_first_on_the_shortest_way() -> None:
    assert missing_step(S.RESOLUTION_IMPLEMENTED, "closed") == "communicated"
    # Closing from fact-finding goes quickest through the unfounded decision.
    assert missing_step(S.INVESTIGATING, "closed") == "unfounded"
    assert missing_step(S.RECEIVED, "closed") == "acknowledged"


def test_no_missing_step_is_named_for_a_next_step_an_unknown_status_or_the_same_one() -> None:
    assert missing_step(S.COMMUNICATED, "summary_signed_off") is None
    assert missing_step(S.COMMUNICATED, "archived") is None
    assert missing_step(S.CLOSED, "closed") is None
    assert missing_step(S.WITHDRAWN, "closed") is None


def test_an_unfounded_complaint_still_closes_once_the_misunderstanding_is_cleared() -> None:
    step = check_transition(
        S.UNFOUNDED, "closed", is_supervisor=False, has_resolution=False, has_note=True
    )
    assert step.to == S.CLOSED


def test_case_numbers_are_readable_and_sortable() -> None:
    from datetime import date

    assert case_number(date(2026, 11, 23), 7) == "TS-20261123-0007"
    assert case_number(date(2026, 11, 23), 12345) == "TS-20261123-12345"


def test_a_status_as_the_api_receives_it_is_matched_by_its_text() -> None:
    """The wanted status arrives as text parsed from a request body, not as the enum's own
    string object: it must be compared by value."""
    import json

    wanted = json.loads('"acknowledged"')
    step = check_transition(S.RECEIVED, wanted, is_supervisor=False, has_resolution=False)
    assert step.to == S.ACKNOWLEDGED


@pytest.mark.parametrize(
    ("category", "complex_", "serious", "expected"),
    [
        (Category.BILLING, False, False, Priority.NORMAL),
        (Category.ENVIRONMENT, False, False, Priority.NORMAL),
        (Category.IMAGING_DISPUTE, False, False, Priority.HIGH),  # radiology within 2 hours
        (Category.WAITING_TIME, True, False, Priority.HIGH),
        (Category.BILLING, True, True, Priority.URGENT),
    ],
)
def test_priority_is_urgent_when_serious_high_when_complex_or_imaging_else_normal(
    category: Category, complex_: bool, serious: bool, expected: Priority
) -> None:
    assert priority_for(serious=serious, complex_=complex_, category=category) == expected


@pytest.mark.parametrize("current", list(Status))
def test_a_handler_is_offered_only_the_steps_a_handler_may_take(current: Status) -> None:
    """A button for a supervisor's step answers a handler with a refusal (audit finding 4):
    a handler is offered only what `check_transition` lets a handler do."""
    offered = steps_for(current, is_supervisor=False, role="agent", escalated=False)
    for to in allowed_next(current):
        try:
            check_transition(current, to, is_supervisor=False, has_resolution=True, has_note=True)
        except NotPermitted:
            assert to not in offered
        else:
            assert to in offered


def test_a_supervisor_is_offered_every_step_but_approving_an_escalated_case() -> None:
    proposed = S.RESOLUTION_PROPOSED
    assert steps_for(proposed, is_supervisor=True, role="supervisor", escalated=False) == (
        allowed_next(proposed)
    )
    assert "resolution_approved" not in steps_for(
        proposed, is_supervisor=True, role="supervisor", escalated=True
    )
    assert "resolution_approved" in steps_for(
        proposed, is_supervisor=True, role="director", escalated=True
    )
    assert steps_for(proposed, is_supervisor=False, role="agent", escalated=False) == []


def test_whoever_proposed_the_resolution_is_not_offered_its_approval() -> None:
    """Four eyes (`check_four_eyes`): the director who proposed the resolution of a case
    escalated to them, or a supervisor who proposed one, was offered an approval always refused."""
    proposed = S.RESOLUTION_PROPOSED
    for role, escalated in (("director", True), ("supervisor", False)):
        offered = steps_for(
            proposed, is_supervisor=True, role=role, escalated=escalated, proposer=True
        )
        assert "resolution_approved" not in offered
        assert "investigating" in offered
