"""Least-loaded assignment within the department, and who sees which tasks."""

from __future__ import annotations

from followup.access import can_manage_staff, can_record_outcome, can_see, scope_of
from followup.assignment import StaffMember, Unassigned, assign_all, choose_assignee, open_slots
from hospital_shared.auth import DEV_TOKENS, Principal, Role

STAFF = [
    StaffMember("S-DOC-01", "CARD", "doctor", 3),
    StaffMember("S-DOC-02", "CARD", "doctor", 3),
    StaffMember("S-SUP-02", "CARD", "supervisor", 2),
    StaffMember("S-AGENT-01", "CS", "agent", 10),
    StaffMember("S-SUP-01", "CS", "supervisor", 5),
    StaffMember("S-OFF", "CARD", "doctor", 9, active=False),
]


def task(n: int, dept: str = "CARD", roles: tuple[str, ...] = ("agent", "doctor")) -> Unassigned:
    return Unassigned(f"T{n}", dept, roles, "CS")


def test_the_least_loaded_eligible_person_in_the_department_gets_the_task() -> None:
    assert choose_assignee(task(1), STAFF, {"S-DOC-01": 2, "S-DOC-02": 1}) == "S-DOC-02"
    assert choose_assignee(task(1), STAFF, {}) == "S-DOC-01"  # ties break by staff id


def test_a_batch_spreads_evenly_and_respects_capacity() -> None:
    chosen = assign_all([task(i) for i in range(8)], STAFF, {})
    per_person: dict[str, int] = {}
    for staff_id in chosen.values():
        per_person[staff_id] = per_person.get(staff_id, 0) + 1
    # three each for the two CARD doctors (capacity 3), the rest to the CS agents
    assert per_person == {"S-DOC-01": 3, "S-DOC-02": 3, "S-AGENT-01": 2}
    assert "S-OFF" not in chosen.values()


def test_roles_limit_who_may_take_a_task() -> None:
    assert choose_assignee(task(1, roles=("supervisor",)), STAFF, {}) == "S-SUP-02"
    full = {"S-SUP-02": 2}
    assert choose_assignee(task(1, roles=("supervisor",)), STAFF, full) == "S-SUP-01"


def test_nobody_with_room_leaves_the_task_unassigned() -> None:
    loads = {"S-DOC-01": 3, "S-DOC-02": 3, "S-AGENT-01": 10}
    assert choose_assignee(task(1), STAFF, loads) is None


def test_a_department_without_staff_falls_back_to_the_customer_service_centre() -> None:
    assert choose_assignee(task(1, dept="ORTH"), STAFF, {}) == "S-AGENT-01"


AGENT = DEV_TOKENS["dev-agent-token"]
DOCTOR = DEV_TOKENS["dev-doctor-token"]
SUPERVISOR = DEV_TOKENS["dev-supervisor-token"]
ADMIN = DEV_TOKENS["dev-admin-token"]


def test_staff_see_only_their_own_tasks() -> None:
    assert can_see(DOCTOR, assignee_id="S-DOC-01", department_code="CARD")
    assert not can_see(DOCTOR, assignee_id="S-DOC-02", department_code="CARD")
    assert not can_see(AGENT, assignee_id=None, department_code="CS")
    assert scope_of(AGENT).assignee_id == "S-AGENT-01"


def test_a_supervisor_sees_their_department_and_their_own_tasks() -> None:
    assert can_see(SUPERVISOR, assignee_id="S-AGENT-01", department_code="CS")
    assert can_see(SUPERVISOR, assignee_id="S-SUP-01", department_code="CARD")
    assert not can_see(SUPERVISOR, assignee_id="S-DOC-01", department_code="CARD")
    assert can_see(ADMIN, assignee_id="anyone", department_code="ANY")


def test_only_the_assignee_or_a_supervisor_records_an_outcome() -> None:
    assert can_record_outcome(DOCTOR, assignee_id="S-DOC-01", department_code="CARD")
    assert not can_record_outcome(DOCTOR, assignee_id=None, department_code="CARD")
    assert can_record_outcome(SUPERVISOR, assignee_id="S-AGENT-01", department_code="CS")


def test_supervisors_manage_their_own_departments_roster() -> None:
    assert can_manage_staff(SUPERVISOR, "CS")
    assert not can_manage_staff(SUPERVISOR, "CARD")
    assert can_manage_staff(ADMIN, "CARD")
    assert not can_manage_staff(Principal(role=Role.AGENT, staff_id="x", department="CS"), "CS")


def test_only_departments_and_roles_with_room_are_worth_fetching_tasks_for() -> None:
    loads = {"S-DOC-01": 3, "S-DOC-02": 3, "S-AGENT-01": 10}
    assert open_slots(STAFF, loads) == {("CARD", "supervisor"), ("CS", "supervisor")}
