"""Who takes over an open enquiry (咨询) whose owner was made inactive (or given a role that may
not own it): where a new case of the department answering for it would go now, the least
loaded, the desk, the supervisor, nobody; the supervisor it then gets is chosen as a hand-over
chooses one; one whose supervisor left gets another. Each change is written with its reason,
and one roster change gives each enquiry one event id."""

from __future__ import annotations

from typing import Any

from complaints.assignment import Member, Workload
from complaints.enquiry_handback import handback_changes, handback_event_id
from complaints.handback import DEACTIVATION, GivenUp
from hospital_shared.vocabulary import SystemNote
from tests.complaints.test_handback import ACTIVE as CASES_ROSTER
from tests.complaints.test_handback import POLICY

DEACTIVATED = (DEACTIVATION.handler, DEACTIVATION.supervisor)
# S-CARD-A has been made inactive, as in the cases' tests; ORTH has a supervisor only.
ACTIVE = [*CASES_ROSTER, Member("S-ORTH-SUP", "ORTH", "supervisor")]


def enquiry(**over: Any) -> dict[str, Any]:
    return {
        "enquiry_number": "ZX-20261207-000001", "department_code": None,
        "owner_id": "S-CARD-A", "owner_department": "CARD", "supervisor_id": "S-CARD-SUP", **over,
    }  # fmt: skip


def handed_back(active: list[Member], **over: Any) -> tuple[dict[str, Any], list[Any]]:
    return handback_changes(
        POLICY, Workload(active, {"S-CARD-B": 2}), enquiry(**over), owner=True, supervisor=False,
        notes=DEACTIVATED,
    )  # fmt: skip


def test_the_least_loaded_active_member_of_the_owners_department_takes_it_over() -> None:
    changes, lines = handed_back(list(ACTIVE))
    assert changes == {"owner_id": "S-CARD-C", "owner_department": "CARD"}  # same supervisor
    assert lines == [
        ("handed_over", {"from": "S-CARD-A", "to": "S-CARD-C",
                         "reason": SystemNote.HANDLER_DEACTIVATED.value}),
    ]  # fmt: skip


def test_with_nobody_in_the_department_the_desk_takes_it_and_the_supervisor_follows() -> None:
    desk_and_supervisors = [m for m in ACTIVE if m.department_code != "CARD"]
    changes, lines = handed_back(desk_and_supervisors)
    # no supervisor of the department asked about (none) nor of CARD: the desk's
    assert changes == {
        "owner_id": "S-DESK-AGENT", "owner_department": "CS", "supervisor_id": "S-DESK-SUP",
    }  # fmt: skip
    # both changes are written down; the supervisor's for the owner's leaving
    deactivated = SystemNote.HANDLER_DEACTIVATED.value
    assert lines == [
        ("handed_over", {"from": "S-CARD-A", "to": "S-DESK-AGENT", "reason": deactivated}),
        ("supervisor_assigned", {"from": "S-CARD-SUP", "to": "S-DESK-SUP",
                                 "reason": deactivated}),
    ]  # fmt: skip
    # the department asked about keeps its supervisor, as a hand-over keeps it
    changes, lines = handed_back(desk_and_supervisors, department_code="ORTH")
    assert changes["supervisor_id"] == "S-ORTH-SUP"
    assert lines[-1] == (
        "supervisor_assigned", {"from": "S-CARD-SUP", "to": "S-ORTH-SUP", "reason": deactivated},
    )  # fmt: skip


def test_with_no_agent_or_doctor_the_supervisor_owns_it() -> None:
    supervisors = [m for m in ACTIVE if m.role == "supervisor"]
    changes, _ = handed_back(supervisors)
    assert changes == {"owner_id": "S-CARD-SUP", "owner_department": "CARD"}


def test_with_nobody_active_it_is_left_without_an_owner_in_its_department_and_says_so() -> None:
    changes, lines = handed_back([])
    # no owner; its department stays, whose supervisors see it; no supervisor to alert
    assert changes == {"owner_id": None, "supervisor_id": None}
    assert lines[0][1]["reason"] == SystemNote.NOBODY_TO_TAKE_OVER.value
    assert lines[1] == (
        "supervisor_assigned", {"from": "S-CARD-SUP", "to": None,
                                "reason": SystemNote.HANDLER_DEACTIVATED.value},
    )  # fmt: skip


def test_an_enquiry_the_member_supervises_gets_another_supervisor_and_keeps_its_owner() -> None:
    role_changed = GivenUp.by(frozenset(), active=True)
    changes, lines = handback_changes(
        POLICY, Workload([*ACTIVE, Member("S-CARD-SUP2", "CARD", "supervisor")]),
        enquiry(owner_id="S-CARD-B", supervisor_id="S-CARD-SUP-OLD"), owner=False,
        supervisor=True, notes=(role_changed.handler, role_changed.supervisor),
    )  # fmt: skip
    assert changes == {"supervisor_id": "S-CARD-SUP"}
    assert lines == [
        ("supervisor_assigned", {"from": "S-CARD-SUP-OLD", "to": "S-CARD-SUP",
                                 "reason": SystemNote.SUPERVISOR_ROLE_CHANGED.value}),
    ]  # fmt: skip


def test_several_enquiries_are_spread_as_one_after_the_other() -> None:
    load = Workload(list(ACTIVE), {"S-CARD-B": 1})
    owners = [
        handback_changes(POLICY, load, enquiry(), owner=True, supervisor=False,
                         notes=DEACTIVATED)[0]["owner_id"]
        for _ in range(3)
    ]  # fmt: skip
    assert owners == ["S-CARD-C", "S-CARD-B", "S-CARD-C"]


def test_one_roster_change_gives_each_enquiry_one_event_id() -> None:
    to = {"owner_id": "S-CARD-C"}
    first = handback_event_id(enquiry(), "roster-event-1", to)
    assert handback_event_id(enquiry(), "roster-event-1", dict(to)) == first
    assert handback_event_id(enquiry(), "roster-event-2", to) != first
    assert handback_event_id(enquiry(enquiry_number="ZX-2"), "roster-event-1", to) != first
    # given to someone else, or to nobody, on a replay: an id of its own
    assert handback_event_id(enquiry(), "roster-event-1", {"owner_id": "S-CARD-B"}) != first
    assert handback_event_id(enquiry(), "roster-event-1", {"owner_id": None}) != first
    assert handback_event_id(enquiry(), "roster-event-1", {"supervisor_id": "S-CARD-C"}) != first
