"""Who makes a call: the least-loaded eligible staff member of the task's department, within
their capacity; the fallback department (the customer-service centre by default) when the
department has nobody eligible with room. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# The transaction-level advisory lock of an assignment pass (jobs.assign_pending), per schema;
# a member's hand-back (handback.py) waits for it, so no pass assigns from a roster read before
# the member was made inactive after their calls were handed back.
ASSIGNMENT_LOCK_KEY = "hashtext(current_schema() || ':assign')"


@dataclass(frozen=True)
class StaffMember:
    staff_id: str
    department_code: str
    role: str
    capacity: int
    active: bool = True


@dataclass(frozen=True)
class Unassigned:
    task_id: str
    department_code: str
    roles: tuple[str, ...]
    fallback_department: str


def choose_assignee(
    task: Unassigned, staff: Iterable[StaffMember], loads: Mapping[str, int]
) -> str | None:
    for department in (task.department_code, task.fallback_department):
        candidates = [
            s
            for s in staff
            if s.active
            and s.department_code == department
            and s.role in task.roles
            and loads.get(s.staff_id, 0) < s.capacity
        ]
        if candidates:
            # Least loaded first, relative to capacity; the staff id breaks ties stably.
            best = min(
                candidates,
                key=lambda s: (loads.get(s.staff_id, 0) / max(s.capacity, 1), s.staff_id),
            )
            return best.staff_id
    return None


def assign_all(
    tasks: Iterable[Unassigned], staff: list[StaffMember], loads: Mapping[str, int]
) -> dict[str, str]:
    """Assign `tasks` in order, counting each assignment in the loads as it goes."""
    current = dict(loads)
    chosen: dict[str, str] = {}
    for task in tasks:
        staff_id = choose_assignee(task, staff, current)
        if staff_id is not None:
            chosen[task.task_id] = staff_id
            current[staff_id] = current.get(staff_id, 0) + 1
    return chosen


def open_slots(staff: Iterable[StaffMember], loads: Mapping[str, int]) -> set[tuple[str, str]]:
    """The (department, role) pairs in which someone still has room: only tasks that one of
    these can take are worth fetching, so a backlog nobody can take never starves the rest."""
    return {
        (s.department_code, s.role)
        for s in staff
        if s.active and loads.get(s.staff_id, 0) < s.capacity
    }
