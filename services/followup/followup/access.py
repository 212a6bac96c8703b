"""Who sees and changes which tasks. Pure.

- agents and doctors see and work only their own tasks;
- a supervisor sees their department's tasks and those assigned to them, and reassigns
  within that scope;
- operations (admin) sees everything; hospital systems (integration) see nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass

from hospital_shared.auth import Principal, Role

STAFF_ROLES = (Role.AGENT, Role.DOCTOR, Role.SUPERVISOR, Role.ADMIN)
SUPERVISING = (Role.SUPERVISOR, Role.ADMIN)


@dataclass(frozen=True)
class Scope:
    """A filter every task query gets: `None` means unrestricted on that axis. A task is in
    scope when it is assigned to `assignee_id` or belongs to `department_code`."""

    assignee_id: str | None = None
    department_code: str | None = None
    everything: bool = False


def scope_of(principal: Principal) -> Scope:
    if principal.role == Role.ADMIN:
        return Scope(everything=True)
    if principal.role == Role.SUPERVISOR:
        return Scope(assignee_id=principal.staff_id, department_code=principal.department)
    return Scope(assignee_id=principal.staff_id or "-")


def can_see(principal: Principal, *, assignee_id: str | None, department_code: str) -> bool:
    scope = scope_of(principal)
    if scope.everything:
        return True
    if scope.assignee_id is not None and assignee_id == scope.assignee_id:
        return True
    return scope.department_code is not None and department_code == scope.department_code


def can_record_outcome(
    principal: Principal, *, assignee_id: str | None, department_code: str
) -> bool:
    """The assignee records the outcome; a supervisor may record it for their department."""
    if principal.role in (Role.AGENT, Role.DOCTOR):
        return assignee_id is not None and assignee_id == principal.staff_id
    return can_see(principal, assignee_id=assignee_id, department_code=department_code)


def can_manage_staff(principal: Principal, department_code: str) -> bool:
    if principal.role == Role.ADMIN:
        return True
    return principal.role == Role.SUPERVISOR and principal.department == department_code
