"""Patient search (an inbound caller is known only by their number; or a name, or a patient
id) and one patient's page across follow-up calls, complaint cases and messages. Every part
shows what the service answering it lets the viewer's role see (masked phones, a refused
message history): the console adds no rule of its own."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from console.backend import Backend, Problem
from console.inbox import PageSession
from console.pages import render
from console.sections import section
from hospital_shared.http_guard import GuardedRoute

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)

SEARCH_BY = ("phone", "name", "patient_id")


@router.get("/patients")
async def search(
    request: Request, session: PageSession, by: str = "phone", q: str = ""
) -> HTMLResponse:
    q = q.strip()
    by = by if by in SEARCH_BY else "phone"
    found: list[dict[str, Any]] | None = None
    errors: dict[str, str] = {}
    if q:
        backend: Backend = request.app.state.backend
        try:
            answer = await backend.get(
                session, "registration", "/v1/patients", params={by: q}, reason="来电查询患者"
            )
            found = answer["items"]
        except Problem as exc:
            errors = {"q": exc.message or "; ".join(exc.fields.values())}
    return render(
        request, "patients/search.html", by=by, q=q, found=found, errors=errors, search_by=SEARCH_BY
    )


@router.get("/patients/{patient_id}")
async def patient_page(request: Request, patient_id: str, session: PageSession) -> HTMLResponse:
    backend: Backend = request.app.state.backend
    reason = f"查看患者 {patient_id}"
    params = {"patient_id": patient_id}
    visits = await section(
        backend.get(session, "registration", f"/v1/patients/{patient_id}/visits", reason=reason)
    )
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
        cases=cases, messages=messages,
    )  # fmt: skip
