"""The duty rota over HTTP: operations (admin) enter and remove shifts; supervisors, directors
and operations read the rota and ask who is on duty for a department or window at a moment
(the person a queue-over-limit notice goes to). Changes are audited."""

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from hospital_shared.auth import Principal, Role, TokenAuth
from hospital_shared.http_guard import GuardedRoute
from notifications import duty_store, repository
from notifications.duty_rota import InvalidShift, check_shift


class ShiftIn(BaseModel):
    department_code: str = Field(min_length=1, max_length=32)
    queue_id: str | None = Field(default=None, min_length=1, max_length=64)  # None: all windows
    staff_id: str = Field(min_length=1, max_length=64)
    starts_at: datetime
    ends_at: datetime


def _view(row: Any) -> dict[str, Any]:
    return {
        "shift_id": row["id"],
        "department_code": row["department_code"],
        "queue_id": row["queue_id"],
        "staff_id": row["staff_id"],
        "starts_at": row["starts_at"].isoformat(),
        "ends_at": row["ends_at"].isoformat(),
        "created_by": row["created_by"],
    }


def _unprocessable(field: str, message: str) -> HTTPException:
    return HTTPException(
        422, detail=[{"loc": ["body", field], "msg": message, "type": "value_error"}]
    )


def build_duty_router(auth: TokenAuth) -> APIRouter:
    router = APIRouter(prefix="/v1/duty-rota", tags=["duty rota"], route_class=GuardedRoute)
    Reader = Annotated[Principal, Depends(auth.require(Role.SUPERVISOR, Role.DIRECTOR, Role.ADMIN))]
    Operations = Annotated[Principal, Depends(auth.require(Role.ADMIN))]

    def pool(request: Request) -> asyncpg.Pool:
        return request.app.state.runtime.pool

    @router.get("")
    async def list_shifts(
        request: Request,
        _: Reader,
        department: Annotated[str | None, Query(max_length=32)] = None,
        from_: Annotated[datetime | None, Query(alias="from")] = None,
        days: Annotated[int, Query(ge=1, le=62)] = 7,
    ) -> dict[str, Any]:
        """The shifts running at or starting after `from` (now), for `days` days."""
        start = from_ or datetime.now(UTC)
        async with pool(request).acquire() as conn:
            rows = await duty_store.shifts_between(
                conn, [department] if department else None, start, start + timedelta(days=days)
            )
        return {"shifts": [_view(r) for r in rows]}

    @router.get("/on-duty")
    async def who_is_on_duty(
        request: Request,
        _: Reader,
        department: Annotated[str, Query(min_length=1, max_length=32)],
        queue_id: Annotated[str | None, Query(max_length=64)] = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Whom a queue-over-limit notice for this department or window would go to."""
        when = at or datetime.now(UTC)
        if when.tzinfo is None:
            raise HTTPException(422, detail=[{"loc": ["query", "at"], "msg": "give the offset"}])
        async with pool(request).acquire() as conn:
            found = await duty_store.on_duty_many(conn, [(department, queue_id, when)])
            staff_id = found.get((department, queue_id, when))
            source = "rota"
            if staff_id is None:
                staff_id = (await repository.supervisors_of(conn, [department])).get(department)
                source = "supervisor"
        return {"department_code": department, "queue_id": queue_id, "at": when.isoformat(),
                "staff_id": staff_id, "source": source if staff_id else None}  # fmt: skip

    @router.post("", status_code=201)
    async def add_shift(request: Request, body: ShiftIn, who: Operations) -> dict[str, Any]:
        hours = request.app.state.runtime.settings.duty_shift_max_hours
        try:
            check_shift(
                starts_at=body.starts_at, ends_at=body.ends_at, max_length=timedelta(hours=hours)
            )
        except InvalidShift as exc:
            raise _unprocessable(exc.field, str(exc)) from None
        async with pool(request).acquire() as conn, conn.transaction():
            active = await conn.fetchval(
                "SELECT active FROM staff WHERE staff_id = $1", body.staff_id
            )
            if not active:
                raise _unprocessable("staff_id", "not an active member of the roster")
            row = await conn.fetchrow(
                "INSERT INTO duty_shifts (department_code, queue_id, staff_id, starts_at,"
                " ends_at, created_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                body.department_code, body.queue_id, body.staff_id, body.starts_at,
                body.ends_at, who.staff_id or str(who.role),
            )  # fmt: skip
            assert row is not None
            await repository.audit(
                conn, actor=who, action="duty_shift_added", target=body.department_code,
                detail=json.dumps({"shift_id": row["id"], "staff_id": body.staff_id}),
            )  # fmt: skip
        return _view(row)

    @router.delete("/{shift_id}")
    async def remove_shift(request: Request, shift_id: int, who: Operations) -> dict[str, Any]:
        async with pool(request).acquire() as conn, conn.transaction():
            done = await conn.fetchval(
                "UPDATE duty_shifts SET removed_at = now(), removed_by = $2"
                " WHERE id = $1 AND removed_at IS NULL RETURNING id",
                shift_id,
                who.staff_id or str(who.role),
            )
            if done is None:
                raise HTTPException(404, "no such shift on the rota")
            await repository.audit(
                conn, actor=who, action="duty_shift_removed", target=str(shift_id)
            )
        return {"removed": shift_id}

    return router
