"""HTTP routes for the staff roster and the effective follow-up policy."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from followup import roster
from followup.access import STAFF_ROLES, SUPERVISING, can_manage_staff
from followup.service import Service
from hospital_shared.auth import Principal, Role
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.service_events.followup import StaffMemberSaved, StaffRole

# Text as the roster event (StaffMemberSaved) takes it: stripped, not empty. A blank name or
# department, or a long staff id, passed the route and failed building the event inside it (a
# 500): the event's id is `staff:<staff id>:<16 digits>`, at most 200 characters, so a staff
# id of 178 or more broke it (found by schemathesis). 64 is plenty for a hospital's ids.
StaffId = Annotated[
    str, Path(), StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


class StaffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    department_code: Code
    role: StaffRole
    capacity: int = Field(ge=0, le=1000)
    phone: str | None = Field(default=None, max_length=32)
    active: bool = True


def _member_json(row: Any) -> dict[str, Any]:
    return {**dict(row), "updated_at": row["updated_at"].isoformat()}


def build_staff_router(service: Service) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["staff roster"], route_class=GuardedRoute)
    supervising = Depends(service.auth.require(*SUPERVISING))
    staff = Depends(service.auth.require(*STAFF_ROLES))

    @router.get("/staff")
    async def list_staff(
        request: Request,
        principal: Principal = supervising,
        department: str | None = None,
    ) -> dict[str, Any]:
        if principal.role == Role.SUPERVISOR:
            if department not in (None, principal.department):
                raise HTTPException(403, "a supervisor sees their own department only")
            department = principal.department
        async with service.pool(request).acquire() as conn:
            rows = await roster.list_members(conn, department)
        return {"staff": [_member_json(r) for r in rows]}

    @router.put("/staff/{staff_id}")
    async def save_staff(
        request: Request, staff_id: StaffId, body: StaffIn, principal: Principal = supervising
    ) -> dict[str, Any]:
        async with service.pool(request).acquire() as conn, conn.transaction():
            current = await roster.get_member(conn, staff_id)
            departments = {body.department_code}
            if current is not None:
                departments.add(current["department_code"])
            if not all(can_manage_staff(principal, d) for d in departments):
                raise HTTPException(403, "a supervisor manages their own department only")
            if StaffRole.ADMIN in (body.role, current and current["role"]) and (
                principal.role is not Role.ADMIN
            ):
                raise HTTPException(403, "only an admin saves an admin (operations) member")
            member = StaffMemberSaved(staff_id=staff_id, **body.model_dump())
            changed = await roster.save_member(conn, member)
            row = await roster.get_member(conn, staff_id)
        return {"changed": changed, "member": _member_json(row)}

    @router.get("/policy/{department}")
    async def effective_policy(department: str, _: Principal = staff) -> dict[str, Any]:
        policy = service.book.for_department(department)
        return {"department_code": department, "policy": asdict(policy)}

    return router
