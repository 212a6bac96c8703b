"""The supervisor's screen (客服主管): the team's workload (follow-up tasks and complaint
cases per person) with reassignment, the complaint time limits in breach or warning, the
resolutions waiting for approval, the enquiries in breach or warning, and the spot checks to
do. A supervisor sees their own
department, as the services decide; operations (admin) chooses one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.backend import Backend, Problem, Refused, first_reason, segment
from console.inbox import PageSession
from console.pages import names_of, render
from console.session import CheckedForm, CurrentSession, Session
from console.time_limits import countdown, countdowns, remaining_text
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.vocabulary import (
    ALERTED_LIMIT_STATES,
    OPEN_TASK_STATUSES,
    LimitState,
    TaskKind,
)

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)
DEFAULT_DEPARTMENT = "CS"  # operations' first view: the complaint desk
REASON = "主管督办"


def _department(session: Session, asked: str | None) -> str:
    if session.has_role("supervisor") and session.department:
        return session.department
    return (asked or "").strip() or DEFAULT_DEPARTMENT


SHOWN_CASES = 25  # per list; the rest are one click away in the queue, with the same filter


async def _cases(api: Backend, session: Session, department: str | None, **query: Any) -> Any:
    """The first open cases of a kind, and whether there are more (then the screen links to
    the queue with the same filter: a long list of breaches belongs to the desk's queue)."""
    params = {"open": "true", "limit": SHOWN_CASES, "department": department, **query}
    found = await api.get(session, "complaints", "/v1/cases", params=params, reason=REASON)
    now = datetime.now(UTC)
    rows = [
        {**c, "countdowns": countdowns(c, now)} for c in found["items"] if not c.get("redacted")
    ]
    link = {"open": "open", "department": department, **query}  # the queue's own filters
    more = "&".join(f"{k}={v}" for k, v in link.items() if v)
    return {"cases": rows, "more": f"/cases?{more}" if found["next"] else None}


async def _spot_checks(api: Backend, session: Session, department: str) -> list[Any]:
    """Open spot checks (抽查) of the department: planned (nobody yet) and assigned."""
    lists = await asyncio.gather(*(
        api.get(session, "followup", "/v1/tasks", reason=REASON, params={
            "kind": TaskKind.SPOT_CHECK, "department": department, "status": status,
            "limit": 100,
        })
        for status in OPEN_TASK_STATUSES
    ))  # fmt: skip
    return sorted((t for found in lists for t in found["items"]), key=lambda t: t["due_at"])


def _soonest_first(items: list[Any], now: datetime) -> list[Any]:
    """Enquiries the person may read (a redacted one has no time limit), each with its
    countdown, the soonest due first."""
    shown = [
        {**e, "countdown": countdown(e["time_limit"], now)} for e in items if "time_limit" in e
    ]
    return sorted(shown, key=lambda e: e["countdown"].due_at)


async def _enquiries_at_risk(api: Backend, session: Session, department: str | None) -> Any:
    """The department's open enquiries past their due time, then those past their warning
    point (a supervisor's as the service decides; operations' by the department asked about),
    each the soonest due first with its countdown; the rest are in the enquiries list with
    the same filter."""
    worst_first = sorted(ALERTED_LIMIT_STATES, key=lambda s: s != LimitState.BREACHED)
    found = await asyncio.gather(*(
        api.get(session, "complaints", "/v1/enquiries", reason=REASON, params={
            "time_limit": state, "limit": SHOWN_CASES, "department": department,
        })
        for state in worst_first
    ))  # fmt: skip
    now = datetime.now(UTC)
    rows = [_soonest_first(answer["items"], now) for answer in found]
    more = [s.value for s, answer in zip(worst_first, found, strict=True) if answer["next"]]
    return {"enquiries": rows[0] + rows[1], "more": more}


def team_rows(roster: list[Any], overview: dict[str, Any], workload: dict[str, Any]) -> list[Any]:
    """One row per person: roster facts, open and overdue tasks, open cases and their limits
    in warning or breach. People with work but no roster entry (moved away) are kept."""
    rows: dict[str, dict[str, Any]] = {
        m["staff_id"]: {"staff_id": m["staff_id"], "name": m.get("name"), "role": m.get("role"),
                        "active": m.get("active", True)}
        for m in roster
    }  # fmt: skip
    for t in overview["staff"]:
        if t["assignee_id"]:
            row = rows.setdefault(t["assignee_id"], {"staff_id": t["assignee_id"]})
            row |= {"open_tasks": t["open_tasks"], "overdue_tasks": t["overdue"]}
    for h in workload["handlers"]:
        if h["assignee_id"]:
            row = rows.setdefault(h["assignee_id"], {"staff_id": h["assignee_id"]})
            row |= {
                "open_cases": h["open_cases"],
                "warning": h["warning"],
                "breached": h["breached"],
            }
    return sorted(rows.values(), key=lambda r: r["staff_id"])


async def _page_data(request: Request, session: Session, department: str) -> dict[str, Any]:
    api: Backend = request.app.state.backend
    case_dept = None if session.has_role("supervisor") else department
    (
        workload,
        overview,
        roster,
        breached,
        warning,
        approvals,
        spots,
        enquiries,
    ) = await asyncio.gather(
        api.get(session, "complaints", "/v1/case-workload", params={"department": department}),
        api.get(
            session, "followup", f"/v1/departments/{segment(department)}/overview", reason=REASON
        ),
        api.get(session, "followup", "/v1/staff", params={"department": department}),
        _cases(api, session, case_dept, time_limit="breached"),
        _cases(api, session, case_dept, time_limit="warning"),
        _cases(api, session, case_dept, status="resolution_proposed"),
        _spot_checks(api, session, department),
        _enquiries_at_risk(api, session, case_dept),
    )
    return {
        "department": department,
        "team": team_rows(roster["items"], overview, workload),
        "roster": [m for m in roster["items"] if m.get("active", True)],
        # who holds a case, an enquiry or a call, by name where the roster has one
        "names": names_of(roster["items"]),
        "unassigned": overview["unassigned"], "overdue": overview["overdue"],
        "breached": breached, "warning": warning, "approvals": approvals, "spot_checks": spots,
        "open_enquiries": enquiries,
    }  # fmt: skip


@router.get("/supervisor")
async def supervisor_page(
    request: Request, session: PageSession, department: str | None = None,
    done: str | None = None,
) -> HTMLResponse:  # fmt: skip
    if not session.has_role("supervisor", "admin"):
        raise Refused("only supervisors and operations")
    data = await _page_data(request, session, _department(session, department))
    return render(request, "supervisor/page.html", **data, done=done == "reassign",
                  remaining=remaining_text)  # fmt: skip


@router.post("/supervisor/reassign")
async def reassign(request: Request, session: CurrentSession, form: CheckedForm) -> Response:
    """Reassign a follow-up task (`task_id`) or a complaint case (`case_number`) to `staff_id`;
    back to the screen, or the screen with the service's reason when it is refused."""
    api: Backend = request.app.state.backend
    staff_id, task, case = (
        str(form.get(k) or "").strip() for k in ("staff_id", "task_id", "case_number")
    )
    department = _department(session, str(form.get("department") or ""))
    try:
        if task:
            await api.post(session, "followup", f"/v1/tasks/{segment(task)}/assignment",
                           json={"assignee_id": staff_id}, reason=REASON)  # fmt: skip
        else:
            await api.post(session, "complaints", f"/v1/cases/{segment(case)}/assignment",
                           json={"assignee_id": staff_id}, reason=REASON)  # fmt: skip
    except (Refused, Problem) as exc:
        data = await _page_data(request, session, department)
        reason = exc.reason if isinstance(exc, Refused) else first_reason(exc)
        return render(request, "supervisor/page.html", 403 if isinstance(exc, Refused) else exc.status,
                      **data, refusal=reason, remaining=remaining_text)  # fmt: skip
    return RedirectResponse(f"/supervisor?department={department}&done=reassign", status_code=303)
