"""Who a new case goes to (pure): the least-loaded handler of the department concerned, else of
the complaint desk; serious cases to the supervisor at once.

`Workload` is the roster of the departments concerned with each member's open cases, read in
one query (`roster.workload`). Opening a case adds it to its assignee's load, so the cases of
one batch are spread exactly as if they had been opened one after the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from complaints.access import HANDLER_ROLES
from complaints.policy import CasePolicy


class Duty(StrEnum):
    """What a member may hold of complaint cases and enquiries (咨询)."""

    HANDLE = "handle"  # a case's handler, an enquiry's owner
    SUPERVISE = "supervise"  # a case's or an enquiry's supervisor


# `assign` gives cases to agents and doctors, and to a supervisor (a serious case, or none of
# them on the roster); enquiries are owned by whoever of those took them (`enquiries.py`). Only
# supervisors supervise (`supervisor_for`). Operations (admin) hold neither.
DUTIES: dict[str, frozenset[Duty]] = {
    **{role: frozenset({Duty.HANDLE}) for role in HANDLER_ROLES},
    "supervisor": frozenset({Duty.HANDLE, Duty.SUPERVISE}),
}
EVERY_DUTY = frozenset(Duty)


def may_handle(role: str) -> bool:
    """Whether a member of this role may be a case's handler (agents, doctors, supervisors;
    not operations nor the director)."""
    return Duty.HANDLE in DUTIES.get(role, frozenset())


def duties_given_up(
    *, was_active: bool | None, old_role: str | None, active: bool, role: str
) -> frozenset[Duty]:
    """What a roster change takes from a member, to be handed back: all of it when they are
    made inactive; when they stay active but change role, what the old role held and the new
    one may not (an agent made operations, their cases; a supervisor made an agent, what they
    supervise). Nothing for a new member, one inactive before (handed back then) or the same
    role again."""
    if not was_active or (active and role == old_role):
        return frozenset()
    if not active:
        return EVERY_DUTY
    held = DUTIES.get(old_role or "", EVERY_DUTY)  # a role not known here: all it may hold
    return held - DUTIES.get(role, frozenset())


@dataclass(frozen=True, slots=True)
class RosterChange:
    """What a roster change takes from a member, to be handed back: `given_up`, duties they
    give up wherever the work is (`duties_given_up`); `moved_to`, the department an active
    member moves to and stays active in (None: they stay where they were), of whose work they
    keep what is that department's and hand back the rest (`handback_rules`)."""

    given_up: frozenset[Duty] = frozenset()
    moved_to: str | None = None

    def __bool__(self) -> bool:
        return bool(self.given_up) or self.moved_to is not None

    @property
    def kept(self) -> frozenset[Duty]:
        """What they still hold after `given_up`: the duties a move hands back by department."""
        return EVERY_DUTY - self.given_up


def roster_change(
    *, was_active: bool | None, old_role: str | None, old_department: str | None,
    active: bool, role: str, department: str,
) -> RosterChange:  # fmt: skip
    """`duties_given_up`, and the department an active member kept active moves to."""
    given_up = duties_given_up(was_active=was_active, old_role=old_role, active=active, role=role)
    moved = bool(was_active) and active and old_department != department
    return RosterChange(given_up, department if moved else None)


@dataclass(frozen=True, slots=True)
class Member:
    staff_id: str
    department_code: str
    role: str


@dataclass
class Workload:
    """Active staff in roster order (the database's order of staff ids) with their open
    cases. The least loaded is the one with the fewest open cases, ties to the first."""

    members: list[Member]
    open_cases: dict[str, int] = field(default_factory=dict)

    def least_loaded(self, department: str, roles: Iterable[str]) -> str | None:
        wanted = set(roles)
        best: str | None = None
        best_load = 0
        for m in self.members:
            if m.department_code != department or m.role not in wanted:
                continue
            load = self.open_cases.get(m.staff_id, 0)
            if best is None or load < best_load:
                best, best_load = m.staff_id, load
        return best

    def take(self, staff_id: str | None) -> None:
        """`staff_id` was given one more open case."""
        if staff_id is not None:
            self.open_cases[staff_id] = self.open_cases.get(staff_id, 0) + 1


@dataclass(frozen=True, slots=True)
class Assignment:
    assignee_id: str | None
    handling_department: str | None
    supervisor_id: str | None


def departments_for(policy: CasePolicy, department: str | None) -> list[str]:
    """Where a case of `department` may go, in order of preference."""
    return [d for d in (department, policy.desk_department) if d]


def assign(
    policy: CasePolicy, workload: Workload, department: str | None, *, serious: bool
) -> Assignment:
    """A handler (agent or doctor) of the department concerned, the least loaded; when that
    department has none on the roster, one of the complaint desk. The supervisor is the
    department's, else the desk's. Serious cases go to that supervisor at once. The chosen
    assignee's load grows by one."""
    chosen = _choose(departments_for(policy, department), workload, serious=serious)
    workload.take(chosen.assignee_id)
    return chosen


def supervisor_for(departments: Sequence[str], workload: Workload) -> tuple[str | None, str | None]:
    """The supervisor of a case of `departments` (`departments_for`) and their department:
    the least loaded of the first that has one; (None, None) when none has."""
    for dept in departments:
        supervisor = workload.least_loaded(dept, ["supervisor"])
        if supervisor:
            return supervisor, dept
    return None, None


def _choose(departments: Sequence[str], workload: Workload, *, serious: bool) -> Assignment:
    supervisor, supervisor_dept = supervisor_for(departments, workload)
    if serious and supervisor:
        return Assignment(supervisor, supervisor_dept, supervisor)
    for dept in departments:
        handler = workload.least_loaded(dept, HANDLER_ROLES)
        if handler:
            return Assignment(handler, dept, supervisor)
    return Assignment(supervisor, supervisor_dept, supervisor)
