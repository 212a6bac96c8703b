"""Staff channel settings over HTTP: each staff member's channels and digest choice, and the
group-robot webhooks of departments and staff members. Changes are audited."""

import json
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field, HttpUrl, model_validator

from hospital_shared.auth import Principal, Role, TokenAuth
from hospital_shared.http_guard import GuardedRoute
from notifications import repository

Channel = Literal["sms", "email", "webhook"]


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


def _webhook_view(row: asyncpg.Record) -> dict[str, Any]:
    """A webhook without its secrets: the URL's query (WeCom's key) and the signing secret."""
    view = dict(row)
    view["url"] = row["url"].split("?", 1)[0] + ("?…" if "?" in row["url"] else "")
    view["secret"] = "set" if row["secret"] else None
    return view


def build_staff_router(auth: TokenAuth) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["staff channels"], route_class=GuardedRoute)
    StaffUser = Annotated[
        Principal,
        Depends(auth.require(Role.AGENT, Role.DOCTOR, Role.SUPERVISOR, Role.DIRECTOR, Role.ADMIN)),
    ]
    Manager = Annotated[Principal, Depends(auth.require(Role.SUPERVISOR, Role.ADMIN))]

    def pool(request: Request) -> asyncpg.Pool:
        return request.app.state.runtime.pool

    def own_or_manager(who: Principal, staff_id: str) -> None:
        if who.staff_id != staff_id and who.role not in (Role.SUPERVISOR, Role.ADMIN):
            raise HTTPException(403, "staff may only change their own channels")

    @router.get("/staff/{staff_id}/channels")
    async def get_channels(request: Request, staff_id: str, who: StaffUser) -> dict[str, Any]:
        own_or_manager(who, staff_id)
        async with pool(request).acquire() as conn:
            reach = await repository.staff_reach(conn, staff_id)
        return {
            "staff_id": staff_id,
            "channels": list(reach.channels) if reach.channels is not None else None,
            "digest": reach.digest,
            "email_on_file": bool(reach.email),
            "webhook_configured": reach.has_webhook,
        }

    @router.put("/staff/{staff_id}/channels")
    async def put_channels(
        request: Request, staff_id: str, body: PreferenceIn, who: StaffUser
    ) -> dict[str, Any]:
        own_or_manager(who, staff_id)
        channels = list(dict.fromkeys(body.channels)) if body.channels is not None else None
        async with pool(request).acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO staff_preferences (staff_id, channels, digest, updated_by)
                   VALUES ($1, $2, $3, $4) ON CONFLICT (staff_id) DO UPDATE SET
                     channels = $2, digest = $3, updated_by = $4, updated_at = now()""",
                staff_id,
                channels,
                body.digest,
                who.staff_id,
            )
            await repository.audit(
                conn,
                actor=who,
                action="staff_channels_set",
                target=staff_id,
                detail=json.dumps({"channels": channels, "digest": body.digest}),
            )
        return {"staff_id": staff_id, "channels": channels, "digest": body.digest}

    @router.get("/webhooks")
    async def list_webhooks(request: Request, _: Manager) -> list[dict[str, Any]]:
        async with pool(request).acquire() as conn:
            rows = await conn.fetch("SELECT * FROM staff_webhooks WHERE active ORDER BY id")
        return [_webhook_view(r) for r in rows]

    @router.put("/webhooks", status_code=201)
    async def put_webhook(request: Request, body: WebhookIn, who: Manager) -> dict[str, Any]:
        """Set the webhook of a department or staff member (replacing the active one)."""
        async with pool(request).acquire() as conn, conn.transaction():
            await conn.execute(
                """UPDATE staff_webhooks SET active = false WHERE active
                     AND (department_code = $1 OR staff_id = $2)""",
                body.department_code,
                body.staff_id,
            )
            row = await conn.fetchrow(
                """INSERT INTO staff_webhooks (department_code, staff_id, flavour, url, msgtype,
                     secret, mention, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                   RETURNING *""",
                body.department_code,
                body.staff_id,
                body.flavour,
                str(body.url),
                body.msgtype,
                body.secret,
                body.mention,
                who.staff_id,
            )
            assert row is not None
            await repository.audit(
                conn,
                actor=who,
                action="webhook_set",
                target=body.department_code or f"staff:{body.staff_id}",
                detail=json.dumps({"webhook_id": row["id"], "flavour": body.flavour}),
            )
        return _webhook_view(row)

    @router.delete("/webhooks/{webhook_id}")
    async def delete_webhook(request: Request, webhook_id: int, who: Manager) -> dict[str, Any]:
        async with pool(request).acquire() as conn, conn.transaction():
            done = await conn.fetchval(
                "UPDATE staff_webhooks SET active = false WHERE id = $1 AND active RETURNING id",
                webhook_id,
            )
            if done is None:
                raise HTTPException(404, "no such active webhook")
            await repository.audit(
                conn, actor=who, action="webhook_removed", target=str(webhook_id)
            )
        return {"removed": webhook_id}

    return router
