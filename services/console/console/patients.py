"""Patient search (an inbound caller is known only by their number; or a name, or a patient
id) and one patient's page across follow-up calls, complaint cases and messages. Every part
shows what the service answering it lets the viewer's role see (masked phones, a refused
message history): the console adds no rule of its own.

- A number is searched however it is typed (`138 0013 8000`, `+86-138…`, `0086…`): the
  registration service normalises it to E.164 as it did the stored ones. `auto` (the default)
  takes text that is a phone number's digits and separators as a phone, else as a name.
- A merged patient id (ADT^A40) finds the surviving patient: registration follows its
  `patient_aliases` and says which id was asked for (`merged_from`); the patient page of a
  merged id goes to the survivor's.
- A patient id registration has no visit of (a complaint taken at the desk, a call planned
  from another system) is looked up in follow-up's tasks and complaints' cases. Their phones
  and names are sealed without a search hash, so only the id finds such a patient there.
- Every search is recorded by the services that answer it (access records, with the reason
  `来电查询患者`), one row per patient found."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.backend import Backend, NotFound, Problem, Refused, Unavailable, first_reason, segment
from console.inbox import PageSession
from console.pages import render
from console.sections import NEWEST_VISITS, section
from console.session import Session
from hospital_shared.http_guard import GuardedRoute

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)

SEARCH_BY = ("auto", "phone", "name", "patient_id")
SEARCH_REASON = "来电查询患者"
_PHONE_LIKE = re.compile(r"\+?[\d\s\-().]{7,24}")


def search_kind(text: str, by: str) -> str:
    """What `text` is searched as: the chosen kind, or for `auto` a phone when it is digits
    with a phone's separators (at least 7 digits), else a name."""
    if by in ("phone", "name", "patient_id"):
        return by
    digits = sum(c.isdigit() for c in text)
    return "phone" if _PHONE_LIKE.fullmatch(text) and digits >= 7 else "name"


async def find_patients(
    request: Request, session: Session, text: str, by: str = "auto"
) -> list[dict[str, Any]]:
    """The patients `text` finds (registration's, else for an id the other services'). A
    service's 4xx (a number too short) is raised as `Problem` for the form to show."""
    backend: Backend = request.app.state.backend
    kind = search_kind(text, by)
    answer = await backend.get(
        session, "registration", "/v1/patients", params={kind: text}, reason=SEARCH_REASON
    )
    found: list[dict[str, Any]] = [{**p, "source": "registration"} for p in answer["items"]]
    if not found and kind == "patient_id":
        found = await _known_elsewhere(backend, session, text)
    return found


async def _known_elsewhere(
    backend: Backend, session: Session, patient_id: str
) -> list[dict[str, Any]]:
    """A patient only follow-up or complaints know, from their newest task or case (each
    service records the read; one that refuses the role or does not answer is skipped)."""
    lookups = (("followup", "/v1/tasks"), ("complaints", "/v1/cases"))
    for service, path in lookups:
        try:
            answer = await backend.get(
                session, service, path, params={"patient_id": patient_id, "limit": 1},
                reason=SEARCH_REASON,
            )  # fmt: skip
        except (Refused, Unavailable, NotFound, Problem):
            continue
        for record in answer.get("items") or []:
            patient = record.get("patient") or {}
            if patient.get("patient_id"):
                return [{"patient_id": patient["patient_id"], "name": patient.get("name"),
                         "phone": patient.get("phone"), "source": service}]  # fmt: skip
    return []


@router.get("/patients")
async def search(
    request: Request, session: PageSession, by: str = "auto", q: str = ""
) -> HTMLResponse:
    q = q.strip()
    by = by if by in SEARCH_BY else "auto"
    found: list[dict[str, Any]] | None = None
    errors: dict[str, str] = {}
    if q:
        try:
            found = await find_patients(request, session, q, by)
        except Problem as exc:
            errors = {"q": first_reason(exc)}
    return render(
        request, "patients/search.html", by=by, q=q, found=found, errors=errors,
        search_by=SEARCH_BY, searched_as=search_kind(q, by) if q else None,
    )  # fmt: skip


@router.get("/patients/{patient_id}", response_model=None)
async def patient_page(request: Request, patient_id: str, session: PageSession) -> Response:
    backend: Backend = request.app.state.backend
    reason = f"查看患者 {patient_id}"
    visits = await section(
        backend.get(
            session, "registration", f"/v1/patients/{segment(patient_id)}/visits", params=NEWEST_VISITS,
            reason=reason,
        )
    )  # fmt: skip
    surviving = ((visits.data or {}).get("patient") or {}).get("patient_id")
    if surviving and surviving != patient_id:  # a merged id: the survivor's page
        return RedirectResponse(f"/patients/{surviving}?merged_from={patient_id}", status_code=303)
    params = {"patient_id": patient_id}
    tasks = await section(
        backend.get(session, "followup", "/v1/tasks", params=params, reason=reason)
    )
    cases = await section(
        backend.get(session, "complaints", "/v1/cases", params=params, reason=reason)
    )
    messages = await section(
        backend.get(
            session, "notifications", "/v1/messages", params=params | {"limit": 200}, reason=reason
        )
    )
    if messages.data is not None:
        messages.data = messages.data["items"]
    return render(
        request, "patients/patient.html", patient_id=patient_id, visits=visits, tasks=tasks,
        cases=cases, messages=messages, merged_from=request.query_params.get("merged_from"),
        contact=_contact(visits.data, tasks.data, cases.data),
    )  # fmt: skip


def _contact(*answers: Any) -> dict[str, Any]:
    """The patient's name and phone from the first service that has them (registration's
    visits, else a task, else a case), as that service shows them."""
    visits, tasks, cases = answers
    candidates = [(visits or {}).get("patient")]
    candidates += [t.get("patient") for t in (tasks or {}).get("items", [])]
    candidates += [c.get("patient") for c in (cases or {}).get("items", [])]
    return next((p for p in candidates if p and (p.get("name") or p.get("phone"))), {})
