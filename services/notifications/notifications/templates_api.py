"""Message templates over HTTP: staff read them; supervisors and operations edit a text
(audited); whether a template is urgent is operations' call (notifications.templates)."""

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from hospital_shared.http_api import Conn, Page, PageQuery
from hospital_shared.http_guard import GuardedRoute
from notifications import message_cases, repository
from notifications.routes import INVALID, NOT_FOUND, Manager, Staff, refusals
from notifications.templates import TemplateInvalid, check
from notifications.views import TemplateEdited, TemplateView

router = APIRouter(prefix="/v1", tags=["notifications"], route_class=GuardedRoute)


class TemplateIn(BaseModel):
    body: str = Field(min_length=1, max_length=2000)
    urgent: bool | None = None
    send_to_deceased: bool | None = None


@router.get("/templates", response_model=Page[TemplateView])
async def list_templates(
    request: Request, conn: Conn, _: Staff, page: PageQuery
) -> Page[TemplateView]:
    """The templates, by name."""
    start = page.position(frozenset({"name"}))
    rows = await repository.templates_after(
        conn, str(start["name"]) if start else None, page.limit + 1
    )
    shown = rows[: page.limit]
    last = {"name": shown[-1]["name"]} if len(rows) > page.limit else None
    return page.page(request, [TemplateView.of(r) for r in shown], last)


@router.get("/templates/{name}", response_model=TemplateEdited, responses=NOT_FOUND)
async def one_template(conn: Conn, name: str, _: Staff) -> TemplateEdited:
    """One template, with its text rendered with sample values of what its sender fills and
    the SMS parts that takes (the console shows them after a save)."""
    row = await repository.template(conn, name)
    if row is None:
        raise HTTPException(404, "no such template")
    try:
        preview = check(row["body"], name)
    except TemplateInvalid:
        preview = ""
    return TemplateEdited.previewed(row, preview)


@router.put("/templates/{name}", response_model=TemplateEdited, responses=NOT_FOUND | INVALID)
async def edit_template(
    request: Request, conn: Conn, name: str, body: TemplateIn, who: Manager
) -> TemplateEdited:
    """A template's new text (and flags), with the text rendered with sample values and the
    SMS parts that takes. A placeholder its sender never fills is refused (422 on `body`)."""
    with refusals():
        async with conn.transaction():
            row, preview = await message_cases.edit_template(
                conn, name, by=who, body=body.body, urgent=body.urgent,
                send_to_deceased=body.send_to_deceased,
                max_segments=request.app.state.sms_max_segments,
            )  # fmt: skip
    return TemplateEdited.previewed(row, preview)
