"""What a move to another department on the roster takes from a member who stays active
(complaints/handback_rules.py): the work they held for a department no longer theirs, each
case and enquiry by the department it is handled, answered or supervised for; the rest stays.
A change of role and department at once hands back the role's part first, with its reasons."""

from __future__ import annotations

from typing import Any

from complaints.assignment import Duty, Member, RosterChange, Workload, roster_change
from complaints.enquiry_handback import given_up_of, handback_changes
from complaints.handback import case_given_up
from complaints.handback_rules import (
    DEPARTMENT_CHANGED,
    ROLE_CHANGED,
    GivenUp,
    given_up_by,
)
from hospital_shared.vocabulary import SystemNote
from tests.complaints.test_handback import POLICY, case

ME = "S-CARD-A"


def change(old_role: str, old_department: str, role: str, department: str) -> RosterChange:
    return roster_change(was_active=True, old_role=old_role, old_department=old_department,
                         active=True, role=role, department=department)  # fmt: skip


def test_a_move_keeps_the_role_and_hands_back_by_department() -> None:
    moved = change("doctor", "CARD", "doctor", "ORTH")
    assert moved == RosterChange(frozenset(), "ORTH") and moved
    assert change("doctor", "CARD", "doctor", "CARD") == RosterChange() and not RosterChange()
    gone = roster_change(was_active=True, old_role="doctor", old_department="CARD",
                         active=False, role="doctor", department="ORTH")  # fmt: skip
    assert gone.moved_to is None  # made inactive: everything goes, by the deactivation
    new = roster_change(was_active=None, old_role=None, old_department=None, active=True,
                        role="doctor", department="ORTH")  # fmt: skip
    assert new == RosterChange()


def test_a_change_of_role_and_department_hands_back_the_roles_part_first() -> None:
    both = change("supervisor", "CARD", "agent", "ORTH")
    [by_role, by_department] = given_up_by(both, active=True)
    assert (by_role.duties, by_role.handler, by_role.moved_to) == (
        {Duty.SUPERVISE}, ROLE_CHANGED, None,
    )  # fmt: skip
    assert (by_department.duties, by_department.handler, by_department.moved_to) == (
        {Duty.HANDLE}, DEPARTMENT_CHANGED, "ORTH",
    )  # fmt: skip
    assert by_department.supervisor == (
        SystemNote.SUPERVISOR_DEPARTMENT_CHANGED, SystemNote.NO_SUPERVISOR_DEPARTMENT_CHANGED,
    )  # fmt: skip


MOVED = GivenUp.moved(RosterChange(frozenset(), "ORTH"))


def test_a_case_handled_or_supervised_for_the_old_department_goes() -> None:
    assert case_given_up(POLICY, case(), ME, MOVED) == (True, False)
    assert case_given_up(POLICY, case(supervisor_id=ME), ME, MOVED) == (True, True)


def test_a_case_handled_for_the_new_department_stays() -> None:
    assert case_given_up(POLICY, case(handling_department="ORTH"), ME, MOVED) == (False, False)
    # without a handling department: the one a new case of it goes to
    unplaced = case(handling_department=None, department_code="ORTH")
    assert case_given_up(POLICY, unplaced, ME, MOVED) == (False, False)


def enquiry(**over: Any) -> dict[str, Any]:
    return {"owner_id": ME, "owner_department": "CARD", "department_code": None,
            "supervisor_id": "S-CARD-SUP", **over}  # fmt: skip


def test_an_enquiry_answered_for_the_old_department_goes_one_for_the_new_stays() -> None:
    assert given_up_of(POLICY, enquiry(), ME, MOVED) == (True, False)
    assert given_up_of(POLICY, enquiry(owner_department="ORTH"), ME, MOVED) == (False, False)


def test_an_enquiry_is_supervised_for_the_department_asked_about_first() -> None:
    # asked about ORTH, the member moves there: they may go on supervising it
    asked = enquiry(owner_id="S-X", department_code="ORTH", supervisor_id=ME)
    assert given_up_of(POLICY, asked, ME, MOVED) == (False, False)
    # asked about nothing in particular: supervised for the owner's department, CARD
    assert given_up_of(POLICY, enquiry(owner_id="S-X", supervisor_id=ME), ME, MOVED) == (
        False, True,
    )  # fmt: skip


def test_one_moved_into_the_desk_and_chosen_again_keeps_the_enquiry_and_nothing_is_written(
) -> None:  # fmt: skip
    """The old department has nobody left to answer it: the desk's handler is chosen, and that
    is the member who moved there. Before, a hand-over from them to themselves was written."""
    desk = Workload([Member(ME, "CS", "doctor"), Member("S-CARD-SUP", "CARD", "supervisor"),
                     Member("S-CARD-SUP2", "CARD", "supervisor")], {"S-CARD-SUP": 5})  # fmt: skip
    notes = (MOVED.handler, MOVED.supervisor)
    assert handback_changes(POLICY, desk, enquiry(), owner=True, supervisor=False,
                            notes=notes) == ({}, [])  # fmt: skip
