"""Message templates over HTTP: staff read them; supervisors and operations edit a text
(audited); whether a template is urgent is operations' call (notifications.templates)."""

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from hospital_shared.http_api import Conn, Page, PageQuery
from hospital_shared.http_guard import GuardedRoute
from notifications import message_cases, repository
from notifications.routes import INVALID, NOT_FOUND, Manager, Staff, refusals
from notifications.segments import count_segments
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


@router.put("/templates/{name}", response_model=TemplateEdited, responses=NOT_FOUND | INVALID)
async def edit_template(
    request: Request, conn: Conn, name: str, body: TemplateIn, who: Manager
) -> TemplateEdited:
    """A template's new text (and flags), with the text rendered with sample values and the
    SMS parts that takes."""
    with refusals():
        async with conn.transaction():
            row, preview = await message_cases.edit_template(
                conn, name, by=who, body=body.body, urgent=body.urgent,
                send_to_deceased=body.send_to_deceased,
                max_segments=request.app.state.sms_max_segments,
            )  # fmt: skip
    segments = count_segments(preview).segments
    return TemplateEdited.model_validate(dict(row) | {"preview": preview, "segments": segments})
