"""The team's open cases per handler with their warnings and breaches, for the supervisor's
screen of the console (the desk's note on a case is in `procedure_api`)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status

from complaints import desk
from complaints.api import Conn, Ctx
from hospital_shared.auth import Principal, Role, TokenAuth
from hospital_shared.http_guard import GuardedRoute


def workload_router(auth: TokenAuth) -> APIRouter:
    """Counts per handler: no complaint text and no patient (not an audited route)."""
    router = APIRouter(prefix="/v1", tags=["complaints"], route_class=GuardedRoute)
    Manager = Annotated[
        Principal, Depends(auth.require(Role.SUPERVISOR, Role.DIRECTOR, Role.ADMIN))
    ]

    @router.get("/case-workload")
    async def case_workload(
        conn: Conn, ctx: Ctx, principal: Manager, department: str | None = None
    ) -> dict[str, Any]:
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
        return {"department": department, "handlers": rows}

    return router
