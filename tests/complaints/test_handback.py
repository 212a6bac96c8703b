"""Who takes over a case whose handler was made inactive (or, reopened, has no active handler):
where a new case of its department would go now, the same rules as opening (the least loaded,
the desk, the supervisor, nobody), recorded with the reason; who supervises a case whose
supervisor was made inactive, by the rule a new case's supervisor is picked by; the events of
one roster change have one id per case and change. What a member made inactive, or given a role
that may not hold it, gives up."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from complaints.assignment import EVERY_DUTY, Assignment, Duty, Member, Workload, duties_given_up
from complaints.handback import (
    DEACTIVATION,
    REOPENED,
    GivenUp,
    department_of,
    handback_change,
    handback_event_id,
    supervising,
    supervisor_change,
    supervisor_event_id,
    taking_over,
)
from complaints.policy import CasePolicy, default_rules
from hospital_shared.vocabulary import SystemNote

POLICY = CasePolicy(limit_rules=default_rules(), tz=ZoneInfo("Asia/Shanghai"))
# S-CARD-A has been made inactive: it is not on the active roster any more.
ACTIVE = [
    Member("S-CARD-B", "CARD", "agent"),
    Member("S-CARD-C", "CARD", "doctor"),
    Member("S-CARD-SUP", "CARD", "supervisor"),
    Member("S-DESK-AGENT", "CS", "agent"),
    Member("S-DESK-SUP", "CS", "supervisor"),
    Member("S-RAD-01", "RAD", "agent"),
]


def case(**over: Any) -> dict[str, Any]:
    return {
        "case_number": "TS-20261207-0001", "channel": "phone", "external_id": "HIS-1",
        "category": "waiting_time", "department_code": "CARD", "handling_department": "CARD",
        "serious": False, "assignee_id": "S-CARD-A", "supervisor_id": "S-CARD-SUP", **over,
    }  # fmt: skip


def test_the_least_loaded_active_handler_of_the_department_takes_the_case_over() -> None:
    load = Workload(list(ACTIVE), {"S-CARD-B": 4, "S-CARD-C": 1})
    chosen = taking_over(POLICY, load, case())
    assert chosen == Assignment("S-CARD-C", "CARD", "S-CARD-SUP")
    assert load.open_cases["S-CARD-C"] == 2  # the next case counts it


def test_several_cases_are_spread_as_one_after_the_other() -> None:
    load = Workload(list(ACTIVE), {"S-CARD-B": 1, "S-CARD-C": 0})
    chosen = [taking_over(POLICY, load, case()).assignee_id for _ in range(3)]
    assert chosen == ["S-CARD-C", "S-CARD-B", "S-CARD-C"]


def test_a_serious_case_goes_to_the_departments_supervisor() -> None:
    chosen = taking_over(POLICY, Workload(list(ACTIVE)), case(serious=True))
    assert chosen.assignee_id == "S-CARD-SUP"


def test_a_case_moved_to_another_department_stays_there() -> None:
    moved = case(handling_department="CS")
    assert department_of(POLICY, moved) == "CS"
    assert taking_over(POLICY, Workload(list(ACTIVE)), moved).assignee_id == "S-DESK-AGENT"


def test_without_a_handling_department_an_imaging_dispute_goes_to_radiology() -> None:
    dispute = case(handling_department=None, category="imaging_dispute")
    assert department_of(POLICY, dispute) == POLICY.radiology_department == "RAD"
    assert department_of(POLICY, case(handling_department=None)) == "CARD"


def test_with_no_handler_left_the_case_goes_as_a_new_one_would_desk_then_supervisor() -> None:
    no_card_handlers = [m for m in ACTIVE if m.staff_id not in ("S-CARD-B", "S-CARD-C")]
    assert taking_over(POLICY, Workload(no_card_handlers), case()).assignee_id == "S-DESK-AGENT"
    supervisors_only = [m for m in ACTIVE if m.role == "supervisor"]
    assert taking_over(POLICY, Workload(supervisors_only), case()).assignee_id == "S-CARD-SUP"


def test_the_change_names_who_had_it_who_has_it_and_why() -> None:
    changes, detail = handback_change(case(), Assignment("S-CARD-C", "CARD", "S-CARD-SUP"))
    assert changes == {"assignee_id": "S-CARD-C", "handling_department": "CARD"}
    assert detail == {
        "from": "S-CARD-A", "to": "S-CARD-C", "reason": SystemNote.HANDLER_DEACTIVATED.value,
    }  # fmt: skip


def test_with_nobody_active_the_case_is_left_unassigned_in_its_department_and_says_so() -> None:
    chosen = taking_over(POLICY, Workload([]), case())
    assert chosen == Assignment(None, None, None)
    changes, detail = handback_change(case(), chosen)
    assert changes == {"assignee_id": None}  # its department's supervisors still see it
    assert detail["to"] is None
    assert detail["reason"] == SystemNote.NOBODY_TO_TAKE_OVER.value


def test_one_roster_change_gives_each_case_one_event_id() -> None:
    first = handback_event_id(case(), "roster-event-1", "S-CARD-B")
    assert handback_event_id(case(), "roster-event-1", "S-CARD-B") == first
    # the case is known by what the hospital gave, not by its number (a replay may renumber)
    renumbered = case(case_number="TS-20261207-0009")
    assert handback_event_id(renumbered, "roster-event-1", "S-CARD-B") == first
    assert handback_event_id(case(), "roster-event-2", "S-CARD-B") != first
    assert handback_event_id(case(external_id="HIS-2"), "roster-event-1", "S-CARD-B") != first
    # a replay that gives it to someone else says so under another id (not taken for the first)
    assert handback_event_id(case(), "roster-event-1", "S-CARD-C") != first
    assert handback_event_id(case(), "roster-event-1", None) != first


def test_a_reopened_case_without_an_active_handler_says_it_was_reopened() -> None:
    chosen = Assignment("S-CARD-C", "CARD", "S-CARD-SUP")
    _, detail = handback_change(case(assignee_id=None), chosen, REOPENED)
    assert detail == {
        "from": None, "to": "S-CARD-C", "reason": SystemNote.REOPENED_WITHOUT_HANDLER.value,
    }  # fmt: skip
    changes, detail = handback_change(case(), Assignment(None, None, None), REOPENED)
    assert changes == {"assignee_id": None}
    assert detail["reason"] == SystemNote.REOPENED_NOBODY_TO_TAKE_OVER.value


def test_a_case_gets_the_supervisor_a_new_case_of_its_department_would_get() -> None:
    # supervisors are spread by their own open cases, as at opening
    two = [*ACTIVE, Member("S-CARD-SUP2", "CARD", "supervisor")]
    assert supervising(POLICY, Workload(two, {"S-CARD-SUP": 3}), case()) == "S-CARD-SUP2"
    no_card_supervisor = [m for m in ACTIVE if m.staff_id != "S-CARD-SUP"]
    assert supervising(POLICY, Workload(no_card_supervisor), case()) == "S-DESK-SUP"
    assert (
        supervising(POLICY, Workload([m for m in ACTIVE if m.role != "supervisor"]), case()) is None
    )


def test_the_supervisors_change_names_who_had_it_who_has_it_and_why() -> None:
    changes, detail = supervisor_change(case(supervisor_id="S-CARD-OLD"), "S-CARD-SUP")
    assert changes == {"supervisor_id": "S-CARD-SUP"}
    assert detail == {
        "from": "S-CARD-OLD", "to": "S-CARD-SUP", "reason": SystemNote.SUPERVISOR_INACTIVE.value,
    }  # fmt: skip
    changes, detail = supervisor_change(case(supervisor_id="S-CARD-OLD"), None)
    assert changes == {"supervisor_id": None}  # the desk's supervisor hears of its time limits
    assert detail["reason"] == SystemNote.NO_SUPERVISOR_TO_TAKE_OVER.value


def test_the_supervisors_change_has_an_id_of_its_own_the_same_for_the_same_roster_change() -> None:
    first = supervisor_event_id(case(), "roster-event-1", "S-CARD-SUP")
    renumbered = case(case_number="TS-20261207-0009")
    assert supervisor_event_id(renumbered, "roster-event-1", "S-CARD-SUP") == first
    assert first != handback_event_id(case(), "roster-event-1", "S-CARD-SUP")
    assert supervisor_event_id(case(), "roster-event-2", "S-CARD-SUP") != first
    assert supervisor_event_id(case(), "roster-event-1", "S-CARD-SUP2") != first


# --- what a roster change takes from a member ------------------------------------------------


def test_a_member_made_inactive_gives_up_everything_they_handle_and_supervise() -> None:
    for role in ("agent", "doctor", "supervisor", "admin"):
        assert duties_given_up(was_active=True, old_role=role, active=False, role=role) == {
            Duty.HANDLE, Duty.SUPERVISE,
        }  # fmt: skip


def test_a_member_who_stays_active_gives_up_what_their_new_role_may_not_hold() -> None:
    def given_up(old: str, new: str) -> set[Duty]:
        return set(duties_given_up(was_active=True, old_role=old, active=True, role=new))

    # operations (admin) handle and supervise nothing
    assert given_up("agent", "admin") == {Duty.HANDLE}
    assert given_up("supervisor", "admin") == {Duty.HANDLE, Duty.SUPERVISE}
    # only supervisors supervise; an agent or a doctor still handles
    assert given_up("supervisor", "agent") == {Duty.SUPERVISE}
    assert given_up("supervisor", "doctor") == {Duty.SUPERVISE}
    # a supervisor handles cases too (serious ones, or with no handler on the roster)
    assert given_up("agent", "supervisor") == set()
    assert given_up("agent", "doctor") == set()
    assert given_up("doctor", "doctor") == set()


def test_a_new_member_or_one_inactive_before_gives_up_nothing() -> None:
    # new on the roster, or inactive already (handed back when they were made inactive)
    assert duties_given_up(was_active=None, old_role=None, active=False, role="agent") == set()
    assert duties_given_up(was_active=False, old_role="agent", active=False, role="admin") == set()
    assert duties_given_up(was_active=False, old_role="agent", active=True, role="admin") == set()


def test_a_role_change_says_so_in_the_reasons() -> None:
    assert GivenUp.by(frozenset({Duty.SUPERVISE}), active=True).supervisor == (
        SystemNote.SUPERVISOR_ROLE_CHANGED, SystemNote.NO_SUPERVISOR_ROLE_CHANGED,
    )  # fmt: skip
    assert GivenUp.by(EVERY_DUTY, active=False) == DEACTIVATION
    _, detail = supervisor_change(case(), None, GivenUp.by(EVERY_DUTY, active=True).supervisor)
    assert detail["reason"] == SystemNote.NO_SUPERVISOR_ROLE_CHANGED.value
