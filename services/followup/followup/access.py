"""Who sees and changes which tasks. Pure.

- agents and doctors see and work only their own tasks;
- a supervisor sees their department's tasks and those assigned to them, and reassigns
  within that scope;
- operations (admin) sees everything; hospital systems (integration) see nothing here.

`Staff` and `Supervising` are the routes' role checks (hospital_shared.http_api.require).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from hospital_shared.auth import Principal, Role
from hospital_shared.http_api import require

STAFF_ROLES = (Role.AGENT, Role.DOCTOR, Role.SUPERVISOR, Role.ADMIN)
SUPERVISING = (Role.SUPERVISOR, Role.ADMIN)

Staff = Annotated[Principal, Depends(require(*STAFF_ROLES))]
Supervising = Annotated[Principal, Depends(require(*SUPERVISING))]


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


def supervisor_scope_refused(principal: Principal, department: str | None) -> bool:
    """A supervisor asking for another department than their own (None: no department asked)."""
    return principal.role == Role.SUPERVISOR and department not in (None, principal.department)


def may_supervise(principal: Principal, department_code: str | None) -> bool:
    """Whether the caller may look at the work of a member of `department_code` (None: not on
    the roster): operations always, a supervisor within their department."""
    if principal.role == Role.ADMIN:
        return True
    return (
        principal.role == Role.SUPERVISOR
        and department_code is not None
        and department_code == principal.department
    )
