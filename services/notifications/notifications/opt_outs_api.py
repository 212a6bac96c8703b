"""Opt-outs over HTTP: any staff member (and the hospital systems) records the opt-out a patient
asks for; reading them back is a patient's history, for supervisors and operations
(notifications.access); revoking one is for supervisors and operations. Phones are E.164 on
the wire, masked for everyone but operations."""

from typing import Annotated

from fastapi import HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, field_validator

from hospital_shared.access_records import Read, Reader, audited_router, record
from hospital_shared.auth import Role
from hospital_shared.http_api import Conn, Page, PageQuery, masked_phone
from hospital_shared.http_guard import error
from notifications import access, domain, message_cases, repository
from notifications.routes import NOT_FOUND, Manager, OptOutRecorder, Staff, id_after, refusals
from notifications.views import OptOutAdded, OptOutView, Revoked

router = audited_router("/v1", "notifications")
PhoneQuery = Annotated[str | None, Query(max_length=32, description="any form; searched as E.164")]


class OptOutIn(BaseModel):
    patient_id: str | None = Field(
        default=None, max_length=64, description="blank is the same as none (a phone's opt-out)"
    )
    phone: str | None = Field(
        default=None, max_length=32, description="any form the region's numbers take; kept E.164"
    )
    reason: str | None = Field(default=None, max_length=200)

    @field_validator("patient_id")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        # a form's empty field: no patient (it was stored as the patient "", and its event,
        # which names a patient or none, could not be published: a 500)
        return value.strip() or None if value is not None else None


def e164_or_422(phone: str | None, request: Request, where: str) -> str | None:
    """`phone` in E.164 (None stays None); a 422 naming `phone` when it cannot be texted."""
    if phone is None:
        return None
    try:
        return domain.normalise_phone(phone, request.app.state.runtime.settings.phone_region)
    except domain.InvalidPhone as exc:
        raise RequestValidationError([error([where, "phone"], str(exc), "value_error")]) from None


@router.get("/opt-outs", response_model=Page[OptOutView])
async def list_opt_outs(
    request: Request,
    conn: Conn,
    who: Staff,
    page: PageQuery,
    patient_id: str | None = None,
    phone: PhoneQuery = None,
) -> Page[OptOutView]:
    """A patient's or a number's opt-outs, the newest first."""
    refusal = access.patient_history_refusal(who)  # recording one (POST) is for all staff
    e164 = e164_or_422(phone, request, "query")
    if refusal:  # recorded as denied, like a refused message listing
        await record(conn, Reader.of(who), [Read(patient_id, "opt_out", "*")], outcome="denied")
        raise HTTPException(403, refusal)
    rows = await repository.list_opt_outs(
        conn, patient_id=patient_id, phone=e164, limit=page.limit + 1, before_id=id_after(page)
    )
    shown = rows[: page.limit]
    await record(
        conn, Reader.of(who), [Read(r["patient_id"], "opt_out", str(r["id"])) for r in shown]
    )
    items = [
        OptOutView.model_validate(
            r | {"phone": r["phone"] if who.role == Role.ADMIN else masked_phone(r["phone"])}
        )
        for r in shown
    ]
    last = {"id": shown[-1]["id"]} if len(rows) > page.limit else None
    return page.page(request, items, last)


@router.post("/opt-outs", status_code=201, response_model=OptOutAdded)
async def add_opt_out(
    request: Request, conn: Conn, body: OptOutIn, who: OptOutRecorder
) -> OptOutAdded:
    """Record that a patient (or a number) wants no more SMS; the SMS waiting are withdrawn."""
    e164 = e164_or_422(body.phone, request, "body")
    with refusals():
        async with conn.transaction():
            opt_id, suppressed = await message_cases.add_opt_out(
                conn, by=who, patient_id=body.patient_id, phone=e164, reason=body.reason
            )
    return OptOutAdded(id=opt_id, suppressed_messages=suppressed)


@router.delete("/opt-outs/{opt_out_id}", response_model=Revoked, responses=NOT_FOUND)
async def revoke_opt_out(conn: Conn, opt_out_id: int, who: Manager) -> Revoked:
    with refusals():
        async with conn.transaction():
            return Revoked(revoked=await message_cases.revoke_opt_out(conn, opt_out_id, by=who))
