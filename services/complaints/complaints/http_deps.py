"""Who may call which complaints route, in one place: the role checks every router uses
(hospital_shared.http_api.require), and the service's context for the routes. What a caller
may see or do with one record is decided in access.py and in the use cases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from complaints.access import Actor
from complaints.enquiry_cases import EnquiryPolicy
from complaints.feedback_cases import FeedbackPolicy
from complaints.intake import Allocate
from complaints.policy import CasePolicy
from complaints.rulebook import RuleBook
from hospital_shared.auth import Principal, Role
from hospital_shared.http_api import require

STAFF = (Role.AGENT, Role.DOCTOR, Role.SUPERVISOR)
# Reading cases: staff, the director (every case) and operations (admin, read-only).
READERS = (*STAFF, Role.DIRECTOR, Role.ADMIN)
# Moving cases: staff and the director, who takes the supervisor's steps on escalations.
WORKERS = (*STAFF, Role.DIRECTOR)

Staff = Annotated[Principal, Depends(require(*STAFF))]
StaffOrSystem = Annotated[Principal, Depends(require(*STAFF, Role.INTEGRATION))]
StaffOrOperations = Annotated[Principal, Depends(require(*STAFF, Role.ADMIN))]
CaseReader = Annotated[Principal, Depends(require(*READERS))]
Worker = Annotated[Principal, Depends(require(*WORKERS))]
Supervisor = Annotated[Principal, Depends(require(Role.SUPERVISOR))]
Manager = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.DIRECTOR))]
Overseer = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.DIRECTOR, Role.ADMIN))]
RuleEditor = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.ADMIN))]
Operations = Annotated[Principal, Depends(require(Role.ADMIN))]


def actor_of(principal: Principal) -> Actor:
    ident = principal.staff_id or f"{principal.role.value}:{principal.name or 'unnamed'}"
    return Actor(ident, principal.role.value, principal.department)


@dataclass
class Context:
    policy: CasePolicy
    rulebook: RuleBook
    clock: Callable[[], datetime]
    allocate: Allocate
    satisfaction_check_days: float


@dataclass(frozen=True)
class EnquiryContext:
    enquiries: EnquiryPolicy
    feedback: FeedbackPolicy


def _ctx(request: Request) -> Context:
    ctx: Context = request.app.state.complaints
    return ctx


def _ectx(request: Request) -> EnquiryContext:
    ctx: EnquiryContext = request.app.state.enquiries
    return ctx


Ctx = Annotated[Context, Depends(_ctx)]
ECtx = Annotated[EnquiryContext, Depends(_ectx)]

# What a route may answer besides its 2xx (401/403/404 are documented by problems.py).
Responses = dict[int | str, dict[str, Any]]
CONFLICT: Responses = {409: {"description": "the record's state does not allow it"}}
