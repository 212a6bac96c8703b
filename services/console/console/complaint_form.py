"""Opening a complaint at the desk (登记投诉): taken by phone, on site or online on behalf of
a patient. The patient is looked up (registration's search, the same as the patient screen)
or typed in; the category, channel, department, text and seriousness go with it to the
complaints service's `POST /v1/cases`, with the person's token. The service decides what is
valid: its field errors (problem+json) are shown beside the field they name, in Chinese
first, and everything typed stays in the form.

Each form carries its own opening key (`external_id`, made when the form is first shown): a
second press of the button, or a retry after a lost answer, gives the case already opened
instead of a second one (the service's idempotent opening)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.backend import Refused
from console.categories import last_read, offered
from console.desk_forms import DeskForm, contact_parts, send_form
from console.inbox import page_session
from console.pages import render
from console.session import CheckedForm, Session, require_session
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.vocabulary import ComplaintChannel

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)

OPENERS = ("agent", "doctor", "supervisor")  # who may open a case (complaints' STAFF)
CHANNELS = (ComplaintChannel.PHONE, ComplaintChannel.ONSITE, ComplaintChannel.ONLINE)
SERIOUSNESS = ("auto", "complex", "simple")  # the service's `complex` override: None/True/False
FIELDS = (
    "patient_id", "patient_name", "patient_phone", "channel", "category", "department_code",
    "department_name", "description", "seriousness", "submitted_at", "external_id", "lookup",
)  # fmt: skip
# the service's place of a field in the body -> the form's field
BODY_FIELDS = {
    "patient.patient_id": "patient_id", "patient.name": "patient_name",
    "patient.phone": "patient_phone", "patient": "patient_id", "channel": "channel",
    "category": "category", "department.code": "department_code",
    "department.name": "department_name", "department": "department_code",
    "description": "description", "complex": "seriousness", "submitted_at": "submitted_at",
    "external_id": "description",
}  # fmt: skip
REASON = "投诉登记"


def case_body(typed: dict[str, str], tz: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The form as the complaints service's opening, and the errors found before sending
    it (only what the console itself parses: the time lodged)."""
    body, errors = contact_parts(typed, tz, "submitted_at")
    body |= {
        "channel": typed["channel"] or "phone",
        "description": typed["description"],
        "external_id": typed["external_id"] or None,
    }
    if typed["category"]:
        body["category"] = typed["category"]
    if typed["seriousness"] in ("complex", "simple"):
        body["complex"] = typed["seriousness"] == "complex"
    return body, errors


async def _session(request: Request) -> Session:
    session = await require_session(request)
    await page_session(request, session)
    if not session.has_role(*OPENERS):
        raise Refused("only the staff who work complaints open them")
    await offered(request, session)  # the service's categories, for the form
    return session


def _page(
    request: Request, typed: dict[str, str], status_code: int = 200, **more: Any
) -> HTMLResponse:
    return render(
        request, "desk/new.html", status_code, typed=typed,
        categories=last_read(request)["complaint"],
        channels=CHANNELS, seriousness=SERIOUSNESS, errors=more.pop("errors", {}), **more,
    )  # fmt: skip


OPENING = DeskForm(FIELDS, case_body, _page, "/v1/cases", REASON, BODY_FIELDS, "description")


@router.get("/cases/new")
async def new_case_form(request: Request) -> HTMLResponse:
    await _session(request)
    typed = dict.fromkeys(FIELDS, "") | {"channel": "phone", "seriousness": "auto",
                                         "external_id": f"desk-form-{uuid.uuid4()}"}  # fmt: skip
    return _page(request, typed)


@router.post("/cases/new")
async def open_case(request: Request, form: CheckedForm) -> Response:
    """The lookup (`do=lookup`) or the opening (`do=open`): either way nothing typed is lost."""
    session = await _session(request)
    case = await send_form(request, session, form, OPENING)
    if isinstance(case, HTMLResponse):
        return case
    number = case["case_number"]
    if case.get("redacted"):  # it went to someone the person may not read it as
        return RedirectResponse(f"/cases?opened={number}", status_code=303)
    return RedirectResponse(f"/cases/{number}?done=opened", status_code=303)
