"""What the notifications service's HTTP routes answer: one typed model per answer, so the
OpenAPI document names every field a client reads (it showed `object` for all but two).

Phone numbers are E.164 (`+8613800138000`), masked (`+86138****8000`) for everyone but
operations; times are UTC with `Z` (hospital_shared.http_api)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hospital_shared.http_api import WireTime
from notifications.segments import count_segments
from notifications.templates import placeholders_of

_MESSAGE_EXAMPLE: dict[str, Any] = {
    "id": "0e7c2f4a-3b1d-4c55-9a8e-2f1d9c3b7a10",
    "template": "appointment_reminder",
    "audience": "patient",
    "channel": "sms",
    "patient_id": "P000123",
    "staff_id": None,
    "status": "delivered",
    "status_reason": None,
    "urgent": False,
    "encoding": "UCS-2",
    "segments": 1,
    "attempts": 1,
    "answered_errors": 0,
    "last_error": None,
    "due_at": "2026-12-05T01:00:00Z",
    "deferred_reason": None,
    "planned_for": None,
    "expires_at": "2026-12-05T13:00:00Z",
    "submitted_at": "2026-12-05T01:00:02Z",
    "delivered_at": "2026-12-05T01:00:05Z",
    "finished_at": "2026-12-05T01:00:05Z",
    "read_at": None,
    "created_at": "2026-12-04T10:00:00Z",
    "resend_of": None,
    "digest_id": None,
    "to_address": None,
    "source_event_id": "c3d1b0a2-6f1e-4b8a-9d0c-1e2f3a4b5c6d",
    "subject_ref": None,
    "to_number": "+86138****8000",
    "body": "【市第一医院】您预约了明天上午9:00心内科门诊，请按时就诊。",
}


class MessageView(BaseModel):
    """A message as the caller may see it (notifications.access): a message that would reveal
    a complaint shows a neutral `template` (`patient_notice`, `staff_notice`) and no text to
    whoever may not learn of the complaint; `body` is null where the text is not theirs."""

    model_config = ConfigDict(json_schema_extra={"examples": [_MESSAGE_EXAMPLE]})

    id: str
    template: str
    audience: str = Field(description="patient | staff")
    channel: str = Field(description="sms | inbox | email | webhook")
    patient_id: str | None
    staff_id: str | None
    status: str
    status_reason: str | None
    urgent: bool
    encoding: str | None
    segments: int | None
    attempts: int = Field(description="hand-overs to the gateway or server, those of an outage too")
    answered_errors: int = Field(
        description="errors the gateway or server answered (a 403 of credentials, a 500, SMTP"
        " 535), counted apart from the attempts of an outage: only these count towards"
        " send_max_attempts, so a message failed after an outage shows why (migration 420)"
    )
    last_error: str | None
    due_at: WireTime | None
    deferred_reason: str | None
    planned_for: WireTime | None = Field(description="when a waiting message is planned to go")
    expires_at: WireTime | None
    submitted_at: WireTime | None
    delivered_at: WireTime | None
    finished_at: WireTime | None
    read_at: WireTime | None
    created_at: WireTime
    resend_of: str | None
    digest_id: str | None
    to_address: str | None
    source_event_id: str | None
    subject_ref: str | None = Field(description="what it is about: `task:<id>`, `case:<number>`")
    to_number: str | None = Field(description="E.164, masked for everyone but operations")
    body: str | None = Field(None, description="the text; null where the caller may not read it")


class OptOutView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 42,
                    "patient_id": "P000123",
                    "phone": "+86138****8000",
                    "source": "sms_reply",
                    "reason": "退订",
                    "created_by": None,
                    "created_at": "2026-12-05T02:00:00Z",
                    "revoked_at": None,
                    "revoked_by": None,
                }
            ]
        }
    )

    id: int
    patient_id: str | None
    phone: str | None = Field(description="E.164, masked for everyone but operations")
    source: str = Field(description="sms_reply | api")
    reason: str | None
    created_by: str | None
    created_at: WireTime
    revoked_at: WireTime | None
    revoked_by: str | None


class OptOutAdded(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": 42, "suppressed_messages": 1}]}
    )

    id: int
    suppressed_messages: int = Field(description="waiting SMS withdrawn by this opt-out")


class Revoked(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"revoked": 1}]})

    revoked: int


class Removed(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"removed": 7}]})

    removed: int = Field(description="the id of what was removed")


class TemplateView(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "name": "discharge_care_notice",
                    "audience": "patient",
                    "body": "【{{ hospital }}】{{ department }}提醒您按时复诊。",
                    "urgent": False,
                    "send_to_deceased": False,
                    "description": "after a discharge",
                    "updated_at": "2026-12-05T02:00:00Z",
                    "updated_by": "S-ADMIN-01",
                    "placeholders": ["department", "hospital", "hotline"],
                }
            ]
        },
    )

    name: str
    audience: str = Field(description="patient | staff")
    body: str
    urgent: bool
    send_to_deceased: bool
    description: str | None
    updated_at: WireTime
    updated_by: str | None
    placeholders: list[str] = Field(
        description="the names its sender fills, which its text may use as {{ name }} (an edit"
        " using another is refused)",
    )

    @classmethod
    def of(cls, row: Any) -> TemplateView:
        return cls.model_validate(dict(row) | {"placeholders": placeholders_of(row["name"])})


class TemplateEdited(TemplateView):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {"name": "discharge_care_notice", "audience": "patient",
                 "body": "【{{ hospital }}】{{ department }}提醒您按时复诊。", "urgent": False,
                 "send_to_deceased": False, "description": "after a discharge",
                 "updated_at": "2026-12-05T02:00:00Z", "updated_by": "S-SUP-01",
                 "placeholders": ["department", "hospital", "hotline"],
                 "preview": "【市第一医院】心内科提醒您按时复诊。", "segments": 1}
            ]
        },
    )  # fmt: skip

    preview: str = Field(
        description="the template rendered with the sample values of what its sender fills"
        " (empty when its text cannot be rendered with them: its messages would fail)"
    )
    segments: int = Field(description="how many SMS parts the preview takes (0: no preview)")

    @classmethod
    def previewed(cls, row: Any, preview: str) -> TemplateEdited:
        """The template `row` with its text rendered with sample values and its SMS parts."""
        shown = TemplateView.of(row).model_dump() | {"preview": preview}
        segments = count_segments(preview).segments if preview else 0
        return cls.model_validate(shown | {"segments": segments})


class ChannelsView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "staff_id": "S-AGENT-01",
                    "channels": ["sms", "webhook"],
                    "digest": True,
                    "email_on_file": False,
                    "webhook_configured": True,
                }
            ]
        }
    )

    staff_id: str
    channels: list[str] | None = Field(description="null: the hospital's defaults")
    digest: bool | None = Field(description="null: the default")
    email_on_file: bool | None = None
    webhook_configured: bool | None = None


class WebhookView(BaseModel):
    """A group-robot webhook without its secrets (the URL's query and the signing secret)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "id": 3,
                    "department_code": "CARD",
                    "staff_id": None,
                    "flavour": "wecom",
                    "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?…",
                    "msgtype": "text",
                    "secret": None,
                    "mention": True,
                    "active": True,
                    "created_at": "2026-12-05T02:00:00Z",
                    "created_by": "S-SUP-01",
                }
            ]
        },
    )

    id: int
    department_code: str | None
    staff_id: str | None
    flavour: str
    url: str = Field(description="without its query (WeCom's key)")
    msgtype: str
    secret: str | None = Field(description="`set` when a signing secret is kept")
    mention: bool
    active: bool
    created_at: WireTime
    created_by: str | None

    @classmethod
    def of(cls, row: Any) -> WebhookView:
        view = dict(row)
        view["url"] = row["url"].split("?", 1)[0] + ("?…" if "?" in row["url"] else "")
        view["secret"] = "set" if row["secret"] else None
        return cls.model_validate(view)


class ShiftView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "shift_id": 7,
                    "department_code": "OPD",
                    "queue_id": "W-03",
                    "staff_id": "S-SUP-01",
                    "starts_at": "2026-12-05T00:00:00Z",
                    "ends_at": "2026-12-05T08:00:00Z",
                    "created_by": "S-ADMIN-01",
                }
            ]
        }
    )

    shift_id: int
    department_code: str
    queue_id: str | None = Field(description="null: every window of the department")
    staff_id: str
    starts_at: WireTime
    ends_at: WireTime
    created_by: str | None

    @classmethod
    def of(cls, row: Any) -> ShiftView:
        return cls(
            shift_id=row["id"],
            department_code=row["department_code"],
            queue_id=row["queue_id"],
            staff_id=row["staff_id"],
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            created_by=row["created_by"],
        )


class OnDutyView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "department_code": "OPD",
                    "queue_id": None,
                    "at": "2026-12-05T02:00:00Z",
                    "staff_id": "S-SUP-01",
                    "source": "rota",
                }
            ]
        }
    )

    department_code: str
    queue_id: str | None
    at: WireTime
    staff_id: str | None = Field(description="null: nobody on the rota and no supervisor")
    source: str | None = Field(description="rota | supervisor (the department's)")
