"""The team's open cases per handler with their warnings and breaches, for the supervisor's
screen of the console (the desk's note on a case is in `procedure_api`); and what a roster
change would hand back of a member's open work, for the roster screen's confirmation. Counts
only: no complaint text and no patient (not audited routes)."""

from dataclasses import asdict
from functools import partial
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import StringConstraints

from complaints import desk, roster
from complaints.handback_preview import to_hand_back
from complaints.http_deps import Ctx, Overseer, RuleEditor
from complaints.responses import HandbackOut, HandlerLoad, Workload
from hospital_shared import staff_ids
from hospital_shared.auth import Role
from hospital_shared.http_api import Conn
from hospital_shared.http_guard import GuardedRoute, field_refused
from hospital_shared.service_events.followup import StaffRole

router = APIRouter(prefix="/v1", tags=["complaints"], route_class=GuardedRoute)


@router.get("/case-workload", response_model=Workload)
async def case_workload(
    conn: Conn, ctx: Ctx, principal: Overseer, department: str | None = None
) -> Workload:
    """A supervisor's team: their department's open cases (and those they supervise);
    the director and operations: any department, or every one."""
    supervisor_id = None
    if principal.role == Role.SUPERVISOR:
        if department not in (None, principal.department):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, "a supervisor sees their own department only"
            )
        department, supervisor_id = principal.department, principal.staff_id
    rows = await desk.workload(
        conn, department=department, supervisor_id=supervisor_id, now=ctx.clock()
    )
    return Workload(department=department, handlers=[HandlerLoad(**r) for r in rows])


StaffId = Annotated[str, Path(), StringConstraints(min_length=1, max_length=64)]
# As follow-up's roster takes a department code (its `StaffIn`).
Department = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


@router.get("/staff/{staff_id}/handback", response_model=HandbackOut)
async def handback_of(
    staff_id: StaffId,
    conn: Conn,
    ctx: Ctx,
    principal: RuleEditor,
    role: StaffRole,
    active: bool = True,
    department: Annotated[Department | None, Query()] = None,
) -> HandbackOut:
    """What saving the member on the roster with `role`, `department` (none: the one they
    have) and `active` would hand back now (`handback_preview`): operations, for anyone; a
    supervisor, for their department's."""
    try:  # found as follow-up's roster finds them: `Ｓ－ＡＧＥＮＴ－０１` is `S-AGENT-01`
        staff_id, member = await staff_ids.find(staff_id, partial(roster.staff_member, conn))
    except staff_ids.NotAStaffId as exc:
        raise field_refused(["path", "staff_id"], str(exc)) from None
    current = member["department_code"] if member else None
    if principal.role == Role.SUPERVISOR and current != principal.department:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "a supervisor sees their own department only"
        )
    counts = await to_hand_back(
        conn, ctx.policy, staff_id, role=role.value, active=active, department=department
    )
    return HandbackOut(staff_id=staff_id, role=role.value, department_code=department,
                       active=active, **asdict(counts))  # fmt: skip
