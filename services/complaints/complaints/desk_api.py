"""The team's open cases per handler with their warnings and breaches, for the supervisor's
screen of the console (the desk's note on a case is in `procedure_api`). Counts per handler:
no complaint text and no patient (not an audited route)."""

from fastapi import APIRouter, HTTPException, status

from complaints import desk
from complaints.http_deps import Ctx, Overseer
from complaints.responses import HandlerLoad, Workload
from hospital_shared.auth import Role
from hospital_shared.http_api import Conn
from hospital_shared.http_guard import GuardedRoute

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
