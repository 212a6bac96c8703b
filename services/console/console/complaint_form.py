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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from console.backend import Backend, Problem, Refused, first_reason
from console.desk import CATEGORIES
from console.inbox import page_session
from console.pages import render
from console.patients import find_patients
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


def contact_parts(
    typed: dict[str, str], tz: str, time_field: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """What a complaint's and an enquiry's forms share: the patient (nothing typed: anonymous;
    a relative: a name and a phone), the department, and when the patient came (`time_field`,
    the hospital's wall clock unless a zone is given; blank: the service's now)."""
    body: dict[str, Any] = {}
    errors: dict[str, str] = {}
    patient = {"patient_id": typed["patient_id"], "name": typed["patient_name"],
               "phone": typed["patient_phone"]}  # fmt: skip
    if any(patient.values()):
        body["patient"] = {k: v for k, v in patient.items() if v}
    if typed["department_code"] or typed["department_name"]:
        department = {"code": typed["department_code"], "name": typed["department_name"]}
        body["department"] = {k: v for k, v in department.items() if v or k == "code"}
    if typed[time_field]:
        try:
            at = datetime.fromisoformat(typed[time_field])
            body[time_field] = (at if at.tzinfo else at.replace(tzinfo=ZoneInfo(tz))).isoformat()
        except ValueError:
            errors[time_field] = "invalid"
    return body, errors


async def patient_lookup(
    request: Request, session: Session, form: FormData, typed: dict[str, str]
) -> tuple[int, dict[str, Any]] | None:
    """The form's patient lookup (`do=lookup`: the patient screen's search, a phone however
    typed or a name) or the choice of one found (`use`, which fills the patient's fields in
    `typed`): the status and what the page shows then. None: the form was sent to be saved."""
    if form.get("do") == "lookup":
        try:
            found = (
                await find_patients(request, session, typed["lookup"]) if typed["lookup"] else []
            )
        except Problem as exc:
            return exc.status, {"errors": {"lookup": first_reason(exc)}}
        return 200, {"found": found, "looked_up": True}
    if form.get("use"):
        chosen = str(form.get("use")).split("\t")
        typed |= dict(zip(("patient_id", "patient_name", "patient_phone"), chosen, strict=False))
        return 200, {}
    return None


def form_errors(
    problem: Problem, fields: dict[str, str] = BODY_FIELDS, other: str = "description"
) -> tuple[dict[str, str], str]:
    """The service's field errors by the form's field (`fields`: the body's place -> the
    form's field; a place not in it goes to `other`), and what names no field of the form
    (with no field error, the problem's first reason: a refusal is never shown blank)."""
    errors: dict[str, str] = {}
    for place, reason in problem.at.items():
        errors.setdefault(fields.get(place, other), reason)
    return errors, problem.message or (first_reason(problem) if not errors else "")


@dataclass(frozen=True)
class DeskForm:
    """A desk form that records something at the complaints service (a case, an enquiry,
    feedback): its fields, the body made of them (with the errors found before sending), the
    page that shows the form again, and the route it is posted to."""

    fields: tuple[str, ...]
    body: Callable[[dict[str, str], str], tuple[dict[str, Any], dict[str, str]]]
    page: Callable[..., HTMLResponse]
    path: str
    reason: str  # the access records' reason
    body_fields: dict[str, str]  # the service's place of a field -> the form's field
    other: str  # the form's field of an error that names none of its fields


async def send_form(
    request: Request, session: Session, form: FormData, spec: DeskForm
) -> HTMLResponse | dict[str, Any]:
    """The posted form's lookup of the patient, or what it records: the form again (looked
    up, or refused, beside the fields the errors name, everything typed kept), or the
    service's answer."""
    typed = {name: str(form.get(name) or "").strip() for name in spec.fields}
    looked_up = await patient_lookup(request, session, form, typed)
    if looked_up is not None:
        status_code, shown = looked_up
        return spec.page(request, typed, status_code, **shown)
    body, errors = spec.body(typed, request.app.state.settings.hospital_tz)
    if errors:
        return spec.page(request, typed, 422, errors=errors)
    backend: Backend = request.app.state.backend
    try:
        answer: dict[str, Any] = await backend.post(
            session, "complaints", spec.path, json=body, reason=spec.reason
        )
    except Problem as exc:
        errors, message = form_errors(exc, spec.body_fields, spec.other)
        return spec.page(request, typed, exc.status, errors=errors, message=message)
    return answer


async def _session(request: Request) -> Session:
    session = await require_session(request)
    await page_session(request, session)
    if not session.has_role(*OPENERS):
        raise Refused("only the staff who work complaints open them")
    return session


def _page(
    request: Request, typed: dict[str, str], status_code: int = 200, **more: Any
) -> HTMLResponse:
    return render(
        request, "desk/new.html", status_code, typed=typed, categories=CATEGORIES,
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
