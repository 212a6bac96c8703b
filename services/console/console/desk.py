"""The complaint desk (投诉处理): the case queue with each running time limit as a countdown,
and the case page with the steps the transition table allows, notes, assignment, the
procedure's records, the satisfaction check and the audit trail. Every read and step goes to
the complaints service with the signed-in person's token; the service decides, the page shows."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.backend import Backend, Problem, Refused, segment
from console.case_actions import ACTIONS, body_of
from console.categories import offered
from console.colleagues import member_names
from console.inbox import PageSession
from console.pages import names_of, render
from console.session import CheckedForm, CurrentSession, Session
from console.time_limits import countdowns, remaining_text, worst_state
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.vocabulary import (
    ALERTED_LIMIT_STATES,
    CaseStatus,
    Priority,
    Satisfaction,
)

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)

PAGE_SIZE = 50
# The filters' choices, in the order the lifecycle goes (the vocabulary's); the categories are
# the complaints service's (console/categories.py).
STATUSES = tuple(CaseStatus)
PRIORITIES = tuple(Priority)
RATINGS = tuple(Satisfaction)
RESOLUTION_KINDS = (
    "apology", "explanation", "refund", "free_re_examination", "compensation", "settlement",
    "other",
)  # fmt: skip
MEASURES = ("criticism", "warning", "fine", "training", "suspension", "other")
SUPERVISING = ("supervisor", "director")
CASE_HANDLER_ROLES = ("agent", "doctor", "supervisor")
# The queue's "whose" filter: the complaints service's query for it, by the signed-in person.
WHOSE = {"assigned": "assignee", "escalated": "director"}


def whose_choices(session: Session) -> tuple[str, ...]:
    """Cases assigned to me (anyone who handles cases); escalated to me (the director)."""
    return ("assigned", "escalated") if session.has_role("director") else ("assigned",)


def whose_filter(session: Session, whose: str | None) -> dict[str, str]:
    return {WHOSE[whose]: session.staff_id} if whose in whose_choices(session) else {}


def backend(request: Request) -> Backend:
    found: Backend = request.app.state.backend
    return found


def queue_filters(
    status: str | None, department: str | None, category: str | None, priority: str | None,
    time_limit: str | None, open_: str, categories: tuple[str, ...],
) -> dict[str, Any]:  # fmt: skip
    """The complaints service's query for the queue's filters (a blank filter is no filter)."""
    return {
        "status": status if status in STATUSES else None,
        "department": (department or "").strip() or None,
        "category": category if category in categories else None,
        "priority": priority if priority in PRIORITIES else None,
        "time_limit": time_limit if time_limit in ALERTED_LIMIT_STATES else None,
        "open": {"open": "true", "finished": "false"}.get(open_),
    }


@router.get("/cases")
async def case_queue(
    request: Request,
    session: PageSession,
    status: str | None = None,
    department: str | None = None,
    category: str | None = None,
    priority: str | None = None,
    time_limit: str | None = None,
    whose: str | None = None,
    open_: Annotated[str, Query(alias="open")] = "open",
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    back: Annotated[str, Query(max_length=50_000)] = "",
    opened: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    """The queue a page at a time, by the service's cursors; `back` holds the cursors of the
    pages before this one (`-`: the first), so that "previous" needs no offset."""
    categories = (await offered(request, session))["complaint"]
    filters = queue_filters(status, department, category, priority, time_limit, open_, categories)
    params = {**filters, **whose_filter(session, whose), "limit": PAGE_SIZE, "cursor": cursor}
    answer = await backend(request).get(
        session, "complaints", "/v1/cases", params=params, reason="投诉处理 案件列表"
    )
    now = datetime.now(UTC)
    rows = [
        {**case, "countdowns": (cd := countdowns(case, now)), "worst": worst_state(cd)}
        for case in answer["items"]
    ]
    chosen = {**filters, "open": open_, "status": status, "department": department,
              "whose": whose}  # fmt: skip
    trail = [c for c in back.split(",") if c]
    following = cursor_of(answer["next"])
    names = await member_names(request, session, [c.get("assignee_id") for c in rows])
    return render(
        request, "desk/queue.html", cases=rows, chosen=chosen, page=len(trail) + 1, names=names,
        prev_url=page_url(request, trail[-1], trail[:-1]) if trail else None,
        next_url=page_url(request, following, [*trail, cursor or "-"]) if following else None,
        statuses=STATUSES, categories=categories, priorities=PRIORITIES,
        whose_choices=whose_choices(session), remaining=remaining_text, opened=opened,
        can_open=session.has_role("agent", "doctor", "supervisor"),
    )  # fmt: skip


def cursor_of(link: str | None) -> str | None:
    """The cursor of the service's `next` link (None at the end)."""
    if not link:
        return None
    found = parse_qs(urlsplit(link).query).get("cursor")
    return found[0] if found else None


def page_url(request: Request, cursor: str, trail: list[str]) -> str:
    """This list with the same filters, at the page `cursor` starts (`-`: the first)."""
    url = request.url.remove_query_params(["cursor", "back"])
    if cursor != "-":
        url = url.include_query_params(cursor=cursor)
    if trail:
        url = url.include_query_params(back=",".join(trail))
    return str(url.replace(scheme="", netloc=""))


async def _case_page_data(request: Request, session: Session, number: str) -> dict[str, Any]:
    """The case, its audit trail and, for those who use them, the roster to assign from and
    the accountability records: one round of calls side by side."""
    api = backend(request)
    reason = f"投诉处理 {number}"
    path = f"/v1/cases/{segment(number)}"
    case, audit = await asyncio.gather(
        api.get(session, "complaints", path, reason=reason),
        api.get(session, "complaints", f"{path}/audit", reason=reason),
    )
    extra: dict[str, Any] = {"roster": [], "names": {}, "accountability": None}
    if session.has_role("supervisor"):
        staff = await api.get(session, "followup", "/v1/staff")
        # Whom a case may be reassigned to: active agents, doctors and supervisors (complaints
        # refuses operations and the director as a case's handler).
        extra["roster"] = [
            m for m in staff["items"]
            if m.get("active", True) and m.get("role") in CASE_HANDLER_ROLES
        ]  # fmt: skip
        extra["names"] = names_of(staff["items"])
    else:  # those who may not read the roster: the names of the people the page shows
        people = [case.get("assignee_id"), case.get("supervisor_id"),
                  (case.get("escalation") or {}).get("director_id"),
                  *(a.get("actor_id") for a in audit["audit"])]  # fmt: skip
        extra["names"] = await member_names(request, session, people)
    if session.has_role("supervisor", "director", "admin") and not case.get("redacted"):
        found = await api.get(session, "complaints", f"{path}/accountability", reason=reason)
        extra["accountability"] = found["accountability"]
    return {"case": case, "audit": audit["audit"], **extra}


def _render_case(
    request: Request, session: Session, data: dict[str, Any], status_code: int = 200, **more: Any
) -> HTMLResponse:
    case = data["case"]
    return render(
        request, "desk/case.html", status_code, **data,
        countdowns=countdowns(case, datetime.now(UTC)), resolution_kinds=RESOLUTION_KINDS,
        measures=MEASURES, supervising=session.has_role(*SUPERVISING),
        can_work=session.has_role("agent", "doctor", "supervisor", "director"),
        remaining=remaining_text, ratings=RATINGS, record_key=str(uuid.uuid4()), **more,
    )  # fmt: skip


@router.get("/cases/{number}")
async def case_page(
    request: Request, session: PageSession, number: str, done: str | None = None
) -> HTMLResponse:
    data = await _case_page_data(request, session, number)
    shown = done if done in ACTIONS or done == "opened" else None
    return _render_case(request, session, data, done=shown)


@router.post("/cases/{number}/{action}")
async def case_action(
    request: Request, session: CurrentSession, form: CheckedForm, number: str, action: str
) -> Response:
    """One form of the case page. Done: back to the case page (post/redirect/get). Refused
    (403, 409) or invalid (422): the case page again with the service's reason and what was
    typed, nothing changed."""
    spec = ACTIONS.get(action)
    if spec is None:
        return render(request, "errors/error.html", 404, kind="notfound")
    body = body_of(spec, form)
    try:
        await backend(request).post(
            session, "complaints", f"/v1/cases/{segment(number)}/{spec.route}", json=body,
            reason=f"投诉处理 {number}",
        )  # fmt: skip
    except (Refused, Problem) as exc:
        data = await _case_page_data(request, session, number)
        status_code, shown = refused_step(exc)
        return _render_case(request, session, data, status_code, failed=action, typed=body, **shown)
    return RedirectResponse(f"/cases/{number}?done={action}", status_code=303)


def refused_step(exc: Refused | Problem) -> tuple[int, dict[str, Any]]:
    """A step the service refused (403, 409) or found invalid (422), as its page shows it
    again: the status, and the service's reason and the fields it named."""
    if isinstance(exc, Refused):
        return 403, {"refusal": exc.reason, "field_errors": {}}
    return exc.status, {"refusal": exc.message, "field_errors": exc.fields}
