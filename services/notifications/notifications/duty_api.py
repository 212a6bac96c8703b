"""The duty rota over HTTP: operations (admin) enter and remove shifts; supervisors, directors
and operations read the rota and ask who is on duty for a department or window at a moment
(the person a queue-over-limit notice goes to). Changes are audited."""

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from hospital_shared.http_api import Conn, Page, PageQuery, PageRequest, position_id
from hospital_shared.http_guard import GuardedRoute
from notifications import duty_store, repository
from notifications.duty_rota import InvalidShift, check_shift
from notifications.refusals import Invalid
from notifications.routes import INVALID, NOT_FOUND, Operations, RotaReader, refusals
from notifications.views import OnDutyView, Removed, ShiftView

router = APIRouter(prefix="/v1/duty-rota", tags=["duty rota"], route_class=GuardedRoute)


class ShiftIn(BaseModel):
    department_code: str = Field(min_length=1, max_length=32)
    queue_id: str | None = Field(default=None, min_length=1, max_length=64)  # None: all windows
    staff_id: str = Field(min_length=1, max_length=64)
    starts_at: AwareDatetime
    ends_at: AwareDatetime


def _after(page: PageRequest) -> tuple[datetime, int] | None:
    """The shift a page starts after: its start and id."""
    return page.read_position(
        frozenset({"starts_at", "id"}),
        lambda p: (datetime.fromisoformat(p["starts_at"]), position_id(p["id"])),
    )


@router.get("", response_model=Page[ShiftView])
async def list_shifts(
    request: Request,
    conn: Conn,
    _: RotaReader,
    page: PageQuery,
    department: Annotated[str | None, Query(max_length=32)] = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    days: Annotated[int, Query(ge=1, le=62)] = 7,
) -> Page[ShiftView]:
    """The shifts running at or starting after `from` (now), for `days` days, by start."""
    start = from_ or datetime.now(UTC)
    rows = await duty_store.shifts_between(
        conn, [department] if department else None, start, start + timedelta(days=days),
        after=_after(page), limit=page.limit + 1,
    )  # fmt: skip
    shown = rows[: page.limit]
    last = shown[-1] if len(rows) > page.limit else None
    position = {"starts_at": last["starts_at"].isoformat(), "id": last["id"]} if last else None
    return page.page(request, [ShiftView.of(r) for r in shown], position)


@router.get("/on-duty", response_model=OnDutyView)
async def who_is_on_duty(
    conn: Conn,
    _: RotaReader,
    department: Annotated[str, Query(min_length=1, max_length=32)],
    queue_id: Annotated[str | None, Query(max_length=64)] = None,
    at: AwareDatetime | None = None,
) -> OnDutyView:
    """Whom a queue-over-limit notice for this department or window would go to."""
    when = at or datetime.now(UTC)
    found = await duty_store.on_duty_many(conn, [(department, queue_id, when)])
    staff_id, source = found.get((department, queue_id, when)), "rota"
    if staff_id is None:
        staff_id = (await repository.supervisors_of(conn, [department])).get(department)
        source = "supervisor"
    return OnDutyView(department_code=department, queue_id=queue_id, at=when,
                      staff_id=staff_id, source=source if staff_id else None)  # fmt: skip


@router.post("", status_code=201, response_model=ShiftView, responses=INVALID)
async def add_shift(request: Request, conn: Conn, body: ShiftIn, who: Operations) -> ShiftView:
    hours = request.app.state.runtime.settings.duty_shift_max_hours
    by = who.staff_id or str(who.role)
    with refusals():
        try:
            check_shift(
                starts_at=body.starts_at, ends_at=body.ends_at, max_length=timedelta(hours=hours)
            )
        except InvalidShift as exc:
            raise Invalid(exc.field, str(exc)) from None
        async with conn.transaction():
            row = await duty_store.add_shift(conn, by=by, **body.model_dump())
            await repository.audit(
                conn, actor=who, action="duty_shift_added", target=body.department_code,
                detail=json.dumps({"shift_id": row["id"], "staff_id": body.staff_id}),
            )  # fmt: skip
    return ShiftView.of(row)


@router.delete("/{shift_id}", response_model=Removed, responses=NOT_FOUND)
async def remove_shift(conn: Conn, shift_id: int, who: Operations) -> Removed:
    with refusals():
        async with conn.transaction():
            await duty_store.remove_shift(conn, shift_id, by=who.staff_id or str(who.role))
            await repository.audit(
                conn, actor=who, action="duty_shift_removed", target=str(shift_id)
            )
    return Removed(removed=shift_id)
