"""What the desk's recording forms share (a complaint opened, an enquiry taken, praise or a
suggestion recorded at the complaints service): the patient looked up or typed in, the
department and when the patient came, the body posted with the person's token, and the
service's field errors shown beside the form's fields with everything typed kept."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from console.backend import Backend, Problem, Refused, Unavailable, first_reason
from console.patients import find_patients
from console.refusals import Reason
from console.session import Session
from console.wording import translate


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
        except (Unavailable, Refused) as exc:  # the form again, what was typed kept
            key = "lookup.unavailable" if isinstance(exc, Unavailable) else "lookup.refused"
            reason = Reason(translate(key, "en"), translate(key, "zh"))
            return (503 if isinstance(exc, Unavailable) else 403), {"errors": {"lookup": reason}}
        return 200, {"found": found, "looked_up": True}
    if form.get("use"):
        chosen = str(form.get("use")).split("\t")
        typed |= dict(zip(("patient_id", "patient_name", "patient_phone"), chosen, strict=False))
        return 200, {}
    return None


def form_errors(problem: Problem, fields: dict[str, str], other: str) -> tuple[dict[str, str], str]:
    """The service's field errors by the form's field (`fields`: the body's place -> the
    form's field; a place not in it goes to `other`), and what names no field of the form
    (with no field error, the problem's first reason: a refusal is never shown blank)."""
    errors: dict[str, str] = {}
    for place, reason in problem.at.items():
        errors.setdefault(fields.get(place, other), reason)
    return errors, problem.message or (first_reason(problem) if not errors else "")


Checked = tuple[dict[str, str], dict[str, str]]


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
    # What the console itself looks up before sending (a colleague named by name): the
    # values the body takes instead of what was typed, and the fields refused.
    check: Callable[[Request, Session, dict[str, str]], Awaitable[Checked]] | None = None


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
    resolved, refused = await spec.check(request, session, typed) if spec.check else ({}, {})
    body, errors = spec.body(typed | resolved, request.app.state.settings.hospital_tz)
    errors = refused | errors
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
