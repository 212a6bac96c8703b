"""The worklist of agents and doctors (supervisors see their own): my open calls grouped
overdue / due today / upcoming, filtered by kind, group or a patient's name or id; and the
department's unassigned calls my role may make, each with a "take" button."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from console.backend import Backend, Problem, first_reason, segment
from console.inbox import PageSession
from console.pages import language_of, render
from console.refusals import said
from console.session import CheckedForm, CurrentSession
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.vocabulary import TaskKind

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)

GROUPS = ("overdue", "due_today", "upcoming")
KINDS = tuple(TaskKind)
TAKERS = ("agent", "doctor", "supervisor")


def _matches(task: dict[str, Any], *, kind: str, q: str) -> bool:
    if kind and task["kind"] != kind:
        return False
    if not q:
        return True
    patient = task.get("patient") or {}
    return q in (patient.get("name") or "") or q in (patient.get("patient_id") or "")


@router.get("/worklist")
async def worklist(
    request: Request, session: PageSession, kind: str = "", group: str = "", q: str = ""
) -> HTMLResponse:
    backend: Backend = request.app.state.backend
    mine = await backend.get(session, "followup", "/v1/worklist", reason="我的回访任务")
    q = q.strip()
    groups = {
        name: [t for t in mine.get(name, []) if _matches(t, kind=kind, q=q)]
        for name in GROUPS
        if not group or group == name
    }
    available: list[dict[str, Any]] = []
    if session.has_role(*TAKERS):
        found = await backend.get(
            session, "followup", "/v1/worklist/available", reason="可领取的回访任务"
        )
        available = [t for t in found["items"] if _matches(t, kind=kind, q=q)]
    return render(
        request,
        "worklist/index.html",
        groups=groups,
        available=available,
        kinds=KINDS,
        all_groups=GROUPS,
        filters={"kind": kind, "group": group, "q": q},
        saved=request.query_params.get("saved"),
        saved_status=request.query_params.get("status"),
        problem=request.query_params.get("problem"),
    )


@router.post("/worklist/{task_id}/take")
async def take(
    request: Request, task_id: str, session: CurrentSession, form: CheckedForm
) -> RedirectResponse:
    """Take the call and open it; when someone was quicker, back to the list saying who."""
    backend: Backend = request.app.state.backend
    try:
        await backend.post(
            session, "followup", f"/v1/tasks/{segment(task_id)}/take", reason=f"回访 {task_id}"
        )
    except Problem as exc:
        shown = said(first_reason(exc), language_of(request))
        return RedirectResponse(f"/worklist?{urlencode({'problem': shown})}", status_code=303)
    return RedirectResponse(f"/calls/{task_id}", status_code=303)
