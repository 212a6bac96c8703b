"""Staff channel settings over HTTP: each staff member's channels and digest choice (their own;
anyone's for supervisors and operations: notifications.access), and the group-robot webhooks of
departments and staff members (supervisors and operations). Changes are audited
(notifications.staff_channels)."""

from functools import partial
from typing import Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field, HttpUrl, model_validator

from hospital_shared import staff_ids
from hospital_shared.auth import Principal
from hospital_shared.http_api import Conn, Page, PageQuery
from hospital_shared.http_guard import GuardedRoute, field_refused
from notifications import access, repository, staff_channels
from notifications.routes import Manager, Staff, id_after, refusals
from notifications.views import ChannelsView, Removed, WebhookView

Channel = Literal["sms", "email", "webhook"]
router = APIRouter(prefix="/v1", tags=["staff channels"], route_class=GuardedRoute)


class PreferenceIn(BaseModel):
    channels: list[Channel] | None = None  # None: the defaults
    digest: bool | None = None  # None: the default


class WebhookIn(BaseModel):
    department_code: str | None = Field(default=None, max_length=32)
    staff_id: str | None = Field(default=None, max_length=64)
    flavour: Literal["wecom", "dingtalk"]
    url: HttpUrl
    msgtype: Literal["text", "markdown"] = "text"
    secret: str | None = Field(default=None, max_length=200)
    mention: bool = True

    @model_validator(mode="after")
    def one_target(self) -> "WebhookIn":
        if (self.department_code is None) == (self.staff_id is None):
            raise ValueError("give exactly one of department_code and staff_id")
        return self


async def _own_or_manager(conn: Conn, who: Principal, staff_id: str) -> str:
    """The member's id as the roster has it (found as a save finds them: `Ｓ－ＡＧＥＮＴ－０１`
    is `S-AGENT-01`; one that cannot be an id is a 422 naming it), when `who` may see them."""
    try:
        staff_id, _ = await staff_ids.find(staff_id, partial(repository.known_staff_id, conn))
    except staff_ids.NotAStaffId as exc:
        raise field_refused(["path", "staff_id"], str(exc)) from None
    refusal = access.channels_refusal(who, staff_id)
    if refusal:
        raise HTTPException(403, refusal)
    return staff_id


@router.get("/staff/{staff_id}/channels", response_model=ChannelsView)
async def get_channels(conn: Conn, staff_id: str, who: Staff) -> ChannelsView:
    staff_id = await _own_or_manager(conn, who, staff_id)
    reach = await repository.staff_reach(conn, staff_id)
    return ChannelsView(
        staff_id=staff_id,
        channels=list(reach.channels) if reach.channels is not None else None,
        digest=reach.digest,
        email_on_file=bool(reach.email),
        webhook_configured=reach.has_webhook,
    )


@router.put("/staff/{staff_id}/channels", response_model=ChannelsView)
async def put_channels(conn: Conn, staff_id: str, body: PreferenceIn, who: Staff) -> ChannelsView:
    staff_id = await _own_or_manager(conn, who, staff_id)
    channels = list(dict.fromkeys(body.channels)) if body.channels is not None else None
    async with conn.transaction():
        await staff_channels.set_preferences(
            conn, staff_id, by=who, channels=channels, digest=body.digest
        )
    return ChannelsView(staff_id=staff_id, channels=channels, digest=body.digest)


@router.get("/webhooks", response_model=Page[WebhookView])
async def list_webhooks(
    request: Request, conn: Conn, _: Manager, page: PageQuery
) -> Page[WebhookView]:
    """The active webhooks, oldest first."""
    rows = await staff_channels.active_webhooks(conn, after_id=id_after(page), limit=page.limit + 1)
    shown = rows[: page.limit]
    last = {"id": shown[-1]["id"]} if len(rows) > page.limit else None
    return page.page(request, [WebhookView.of(r) for r in shown], last)


@router.put("/webhooks", status_code=201, response_model=WebhookView)
async def put_webhook(conn: Conn, body: WebhookIn, who: Manager) -> WebhookView:
    """Set the webhook of a department or staff member (replacing the active one)."""
    async with conn.transaction():
        row = await staff_channels.set_webhook(
            conn, by=who, **body.model_dump(exclude={"url"}), url=str(body.url)
        )
    return WebhookView.of(row)


@router.delete("/webhooks/{webhook_id}", response_model=Removed)
async def delete_webhook(conn: Conn, webhook_id: int, who: Manager) -> Removed:
    with refusals():
        async with conn.transaction():
            await staff_channels.remove_webhook(conn, webhook_id, by=who)
    return Removed(removed=webhook_id)
