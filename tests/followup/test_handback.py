"""The event a call handed back by a member made inactive, given a role that may not make it or
moved to another department, carries, and when a role or department change gives calls up
(followup/handback.py)."""

from datetime import UTC, datetime

from followup.handback import (
    STAFF_ROLE_CHANGED,
    Kept,
    kept_active,
    release_reason,
    released_event,
)

TIME = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
ROSTER_EVENT = "staff:D-1:1796623200000000"


def _row(generation: int) -> dict[str, object]:
    return {"task_id": "FU-A000123", "kind": "inpatient_discharge", "patient_id": "P-000123",
            "department_code": "CARD", "status": "planned", "due_at": TIME,
            "attempts_made": 1, "generation": generation}  # fmt: skip


def test_a_handed_back_call_names_who_left_why_and_the_roster_change() -> None:
    event = released_event(_row(1), staff_id="D-1", roster_event_id=ROSTER_EVENT, time=TIME)
    assert event.type == "followup.task_released"
    assert event.id == f"FU-A000123:released:{ROSTER_EVENT}"
    assert event.correlationid == ROSTER_EVENT
    data = event.data
    assert (data.previous_assignee_id, data.reason, data.source_event_id) == (
        "D-1", "staff_deactivated", ROSTER_EVENT,
    )  # fmt: skip
    assert (data.status, data.attempts_made) == ("planned", 1)


def test_a_later_life_handed_back_by_the_same_change_has_its_own_id() -> None:
    """The life in front, as every id that a task planned again could repeat."""
    first = released_event(_row(1), staff_id="D-1", roster_event_id=ROSTER_EVENT, time=TIME)
    second = released_event(_row(2), staff_id="D-1", roster_event_id=ROSTER_EVENT, time=TIME)
    assert first.id != second.id and second.id.startswith("2:FU-A000123:")


def test_only_a_member_kept_active_with_another_role_or_department_gives_up_calls() -> None:
    """A role or department change hands back calls; a new member, one inactive before, or the
    same role and department again, none."""
    doctor = {"active": True, "role": "doctor", "department_code": "CARD"}
    assert kept_active(doctor, role="agent", department="CARD") == Kept(role="agent")
    assert kept_active(doctor, role="doctor", department="ORTH") == Kept(department="ORTH")
    assert kept_active(doctor, role="agent", department="ORTH") == Kept("agent", "ORTH")
    assert kept_active(doctor, role="doctor", department="CARD") == Kept()
    assert kept_active(doctor | {"active": False}, role="agent", department="ORTH") == Kept()
    assert kept_active(None, role="agent", department="ORTH") == Kept()


def test_a_call_the_new_role_may_not_make_goes_for_the_role_even_when_the_department_changed(
) -> None:  # fmt: skip
    both = Kept("agent", "ORTH")
    assert release_reason(["doctor"], both) == "staff_role_changed"
    assert release_reason(["agent", "doctor"], both) == "staff_department_changed"
    assert release_reason(["agent", "doctor"], Kept(department="ORTH")) == (
        "staff_department_changed"
    )
    assert release_reason(["doctor"], None) == "staff_deactivated"


def test_a_call_handed_back_by_a_role_change_says_so() -> None:
    event = released_event(_row(1), staff_id="D-1", roster_event_id=ROSTER_EVENT, time=TIME,
                           reason=STAFF_ROLE_CHANGED)  # fmt: skip
    assert event.data.reason == "staff_role_changed"
