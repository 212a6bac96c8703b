"""The call screen: the patient and what the call is about (department, dates, disposition,
earlier calls, open complaints, SMS sent), the script and questions for its kind of call,
and the outcome form. Saving posts the outcome to the follow-up service, which moves the
task on (retry, unreachable, completed, second call, complaint) exactly as its API does; a
refused value comes back next to its field."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from console.backend import Backend, Problem, segment
from console.inbox import PageSession, page_session
from console.pages import local_time, render
from console.refusals import detail_reason
from console.sections import NEWEST_VISITS, section
from console.session import CheckedForm, Session
from hospital_shared.bounds import whole_number
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.vocabulary import FINISHED_CASE_STATUSES, Satisfaction

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)

NOT_REACHED_REASONS = ("no_answer", "busy", "switched_off", "wrong_number", "callback_requested")
SATISFACTION = tuple(Satisfaction)


@cache
def scripts() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (Path(__file__).parent / "call_scripts.json").read_text("utf-8")
    )
    return data


def script_for(
    task: dict[str, Any], visit: dict[str, Any] | None, *, lang: str, tz: str, hospital: str
) -> dict[str, Any]:
    """The kind's script with the patient's department and date in it; a planned next call
    asks the questions its plan gave."""
    entry = scripts().get(task["kind"], {}).get(lang) or {"script": "", "questions": []}
    department = (visit or {}).get("department", {}).get("name") or task["department_code"]
    when = (visit or {}).get("discharged_at") or (visit or {}).get("registered_at")
    text = entry["script"].format(
        hospital=hospital, department=department,
        date=local_time(when, tz, "%m-%d") if when else "",
    )  # fmt: skip
    questions = list((task.get("plan") or {}).get("questions") or []) or entry["questions"]
    return {"script": text, "questions": questions}


def _visit_of(task: dict[str, Any], visits: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The visit or stay the call is about (its source), else the latest one."""
    ref = (task.get("why") or {}).get("source_ref")
    return next((v for v in visits if v["visit_id"] == ref), visits[0] if visits else None)


async def _context(request: Request, session: Session, task_id: str) -> dict[str, Any]:
    backend: Backend = request.app.state.backend
    reason = f"回访 {task_id}"
    task = await backend.get(session, "followup", f"/v1/tasks/{segment(task_id)}", reason=reason)
    pid = task["patient"]["patient_id"]
    visits = await section(
        backend.get(
            session, "registration", f"/v1/patients/{segment(pid)}/visits", params=NEWEST_VISITS,
            reason=reason,
        )
    )  # fmt: skip
    cases = await section(
        backend.get(session, "complaints", "/v1/cases", params={"patient_id": pid}, reason=reason)
    )
    messages = await section(
        backend.get(
            session,
            "notifications",
            "/v1/messages",
            params={"patient_id": pid, "limit": 200},
            reason=reason,
        )
    )
    if messages.data is not None:
        messages.data = messages.data["items"]
    calls = await section(
        backend.get(session, "followup", "/v1/tasks", params={"patient_id": pid}, reason=reason)
    )
    visit_list = (visits.data or {}).get("items", [])
    restricted = []
    if cases.data is not None:
        open_cases = [c for c in cases.data["items"] if c["status"] not in FINISHED_CASE_STATUSES]
        # A case the caller may not read comes as a receipt: that it is open, never what it says.
        restricted = [c["case_number"] for c in open_cases if c.get("redacted")]
        cases.data = [c for c in open_cases if not c.get("redacted")]
    if calls.data is not None:
        calls.data = [t for t in calls.data["items"] if t["task_id"] != task_id]
    visit = _visit_of(task, visit_list)
    settings = request.app.state.settings
    lang = request.cookies.get("console_lang") or settings.default_language
    return {
        "task": task, "visit": visit, "visits": visits, "cases": cases,
        "restricted_cases": restricted, "messages": messages,
        "calls": calls, "script": script_for(
            task, visit, lang=lang, tz=settings.hospital_tz, hospital=settings.hospital_name
        ),
        "reasons": NOT_REACHED_REASONS, "satisfaction": SATISFACTION,
    }  # fmt: skip


@router.get("/calls/{task_id}")
async def call_screen(request: Request, task_id: str, session: PageSession) -> HTMLResponse:
    context = await _context(request, session, task_id)
    return render(request, "calls/call.html", form={}, errors={}, **context)


# followup's rule, said before sending and beside the field it is about
CALLBACK_RULE = detail_reason(422, "callback_at goes with not_reached_reason callback_requested")


def outcome_body(form: FormData, tz: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The form as the follow-up API's outcome, and the errors found before sending it."""
    errors: dict[str, str] = {}
    reached = form.get("reached")
    if reached not in ("yes", "no"):
        errors["reached"] = "required"
    body: dict[str, Any] = {"reached": reached == "yes"}
    text = {k: str(form.get(k) or "").strip() for k in ("feedback", "objection")}
    if reached == "yes":
        body |= {k: v for k, v in text.items() if v}
        if form.get("satisfaction"):
            body["satisfaction"] = form.get("satisfaction")
        if form.get("score"):
            score = whole_number(str(form.get("score")))
            if score is None:  # not ASCII digits: "five", "²" were 500s
                errors["score"] = "invalid"
            else:
                body["score"] = score
    elif reached == "no":
        body["not_reached_reason"] = form.get("not_reached_reason") or None
        if text["feedback"]:
            body["feedback"] = text["feedback"]
        callback = str(form.get("callback_at") or "")
        if callback:
            try:
                at = datetime.fromisoformat(callback).replace(tzinfo=ZoneInfo(tz))
                body["callback_at"] = at.isoformat()
            except ValueError:
                errors["callback_at"] = "invalid"
        if (body["not_reached_reason"] == "callback_requested") != bool(callback):
            errors.setdefault("callback_at", CALLBACK_RULE)
    body["opt_out"] = form.get("opt_out") == "yes"
    # what the screen showed: the attempt (a second send of the same outcome is refused, 409)
    # and the task's life (withdrawn and planned again since: refused, 409); not a number: left out
    for name in ("attempt", "generation"):
        value = whole_number(str(form.get(name) or ""))
        if value is not None:
            body[name] = value
    return body, errors


@router.post("/calls/{task_id}/outcome", response_model=None)
async def save_outcome(
    request: Request, task_id: str, form: CheckedForm
) -> HTMLResponse | RedirectResponse:
    session: Session = request.state.session
    await page_session(request, session)
    tz = request.app.state.settings.hospital_tz
    body, errors = outcome_body(form, tz)
    message, status = "", 422
    if not errors:
        backend: Backend = request.app.state.backend
        try:
            result = await backend.post(
                session, "followup", f"/v1/tasks/{segment(task_id)}/outcome", json=body,
                reason=f"回访 {task_id}",
            )  # fmt: skip
            query = urlencode({"saved": task_id, "status": result["status"]})
            return RedirectResponse(f"/worklist?{query}", status_code=303)
        except Problem as exc:  # a 409's reason above the form, the screen read again
            errors, message, status = exc.fields, exc.message, exc.status
    context = await _context(request, session, task_id)
    return render(
        request, "calls/call.html", status, form=dict(form), errors=errors, message=message,
        **context,
    )  # fmt: skip
