"""Enquiries (咨询) at the console, under first-contact responsibility (首问负责制): whoever
takes an enquiry owns it until it is answered, handed over to a named colleague with the
reason, or turned into a complaint. Its one time limit (24 h, complex 48 h; on site 30
minutes, complex 2 hours) runs as a countdown on the list and on its page.

Every read and step goes to the complaints service's `/v1/enquiries` with the signed-in
person's token; the service decides who may see and move what, the page shows its reason
when it refuses, with what was typed kept. A new enquiry's form carries its own key
(`external_id`): a second press of the button records it once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.backend import Backend, Problem, Refused, segment
from console.case_actions import CaseAction, Field, body_of
from console.colleagues import colleague_id, member_names, offered_colleagues
from console.desk import cursor_of, page_url, refused_step
from console.desk_forms import DeskForm, contact_parts, send_form
from console.inbox import PageSession, page_session
from console.pages import names_of, render
from console.refusals import Reason
from console.session import CheckedForm, CurrentSession, Session, require_session
from console.time_limits import countdown, remaining_text
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.vocabulary import ALERTED_LIMIT_STATES, EnquiryChannel, EnquiryStatus

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)

TAKERS = ("agent", "doctor", "supervisor")  # who takes and works enquiries (complaints' STAFF)
PAGE_SIZE = 50
CHANNELS = tuple(EnquiryChannel)
STATUSES = tuple(EnquiryStatus)
REASON = "咨询登记"
FIELDS = (
    "patient_id", "patient_name", "patient_phone", "channel", "complex", "department_code",
    "department_name", "question", "taken_at", "external_id", "lookup",
)  # fmt: skip
# the service's place of a field in the body -> the form's field
BODY_FIELDS = {
    "patient.patient_id": "patient_id", "patient.name": "patient_name",
    "patient.phone": "patient_phone", "patient": "patient_id", "channel": "channel",
    "department.code": "department_code", "department.name": "department_name",
    "department": "department_code", "question": "question", "taken_at": "taken_at",
    "complex": "complex",
}  # fmt: skip
# The enquiry page's forms: the service's route under `/v1/enquiries/{number}/` and its body.
HANDOVER = "handover"  # the form naming the colleague an enquiry is handed over to
ACTIONS: dict[str, CaseAction] = {
    "answer": CaseAction("answer", (Field("answer", "required"),)),
    HANDOVER: CaseAction("handover", (Field("to", "required"), Field("reason", "required"))),
    "complaint": CaseAction("complaint", (Field("note"),)),
}


def _backend(request: Request) -> Backend:
    found: Backend = request.app.state.backend
    return found


def _rows(items: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The enquiries with their time limit as a countdown (a redacted one has none)."""
    return [
        {**e, "countdown": countdown(e["time_limit"], now) if "time_limit" in e else None}
        for e in items
    ]


@router.get("/enquiries")
async def enquiry_list(
    request: Request,
    session: PageSession,
    status: str = "open",
    whose: str = "",
    channel: str = "",
    time_limit: str = "",
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    back: Annotated[str, Query(max_length=50_000)] = "",
) -> HTMLResponse:
    """The enquiries the person may see, newest first, a page at a time (the desk queue's
    paging: `back` holds the cursors of the pages before this one)."""
    params = {
        "status": status if status in STATUSES else None,
        "channel": channel if channel in CHANNELS else None,
        "owner": session.staff_id if whose == "mine" else None,
        "time_limit": time_limit if time_limit in ALERTED_LIMIT_STATES else None,
        "limit": PAGE_SIZE,
        "cursor": cursor,
    }
    answer = await _backend(request).get(
        session, "complaints", "/v1/enquiries", params=params, reason="咨询 列表"
    )
    trail = [c for c in back.split(",") if c]
    following = cursor_of(answer["next"])
    items = answer["items"]
    names = await member_names(
        request, session, [e.get(f) for e in items for f in ("owner_id", "taken_by")]
    )
    return render(
        request, "enquiries/list.html", enquiries=_rows(items, datetime.now(UTC)), names=names,
        chosen={"status": status, "whose": whose, "channel": channel, "time_limit": time_limit},
        statuses=STATUSES,
        channels=CHANNELS, page=len(trail) + 1, remaining=remaining_text,
        prev_url=page_url(request, trail[-1], trail[:-1]) if trail else None,
        next_url=page_url(request, following, [*trail, cursor or "-"]) if following else None,
        can_take=session.has_role(*TAKERS),
    )  # fmt: skip


async def _taker(request: Request) -> Session:
    session = await require_session(request)
    await page_session(request, session)
    if not session.has_role(*TAKERS):
        raise Refused("only the staff who take enquiries record them")
    return session


def _form_page(
    request: Request, typed: dict[str, str], status_code: int = 200, **more: Any
) -> HTMLResponse:
    return render(
        request, "enquiries/new.html", status_code, typed=typed, channels=CHANNELS,
        errors=more.pop("errors", {}), **more,
    )  # fmt: skip


@router.get("/enquiries/new")
async def new_enquiry_form(request: Request) -> HTMLResponse:
    await _taker(request)
    typed = dict.fromkeys(FIELDS, "") | {"channel": "phone",
                                         "external_id": f"enquiry-form-{uuid.uuid4()}"}  # fmt: skip
    return _form_page(request, typed)


def enquiry_body(typed: dict[str, str], tz: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The form as the complaints service's `POST /v1/enquiries`, and the errors found before
    sending it (the time asked, which the console parses)."""
    body, errors = contact_parts(typed, tz, "taken_at")
    body |= {
        "channel": typed["channel"] or "phone",
        "question": typed["question"],
        "complex": typed["complex"] == "yes",
        "external_id": typed["external_id"] or None,
    }
    return body, errors


TAKING = DeskForm(
    FIELDS, enquiry_body, _form_page, "/v1/enquiries", REASON, BODY_FIELDS, "question"
)


@router.post("/enquiries/new")
async def take_enquiry(request: Request, form: CheckedForm) -> Response:
    """The lookup of the patient, or the enquiry recorded: either way nothing typed is lost."""
    session = await _taker(request)
    enquiry = await send_form(request, session, form, TAKING)
    if isinstance(enquiry, HTMLResponse):
        return enquiry
    return RedirectResponse(f"/enquiries/{enquiry['enquiry_number']}?done=taken", 303)


async def _page_data(request: Request, session: Session, number: str) -> dict[str, Any]:
    """The enquiry with its history and, while it is open, the active colleagues to hand it
    over to (the staff directory, which any member of staff reads: the owner, often an agent,
    names a colleague by name; none listed when the directory does not answer)."""
    api = _backend(request)
    enquiry = await api.get(
        session, "complaints", f"/v1/enquiries/{segment(number)}", reason=f"咨询 {number}"
    )
    roster: list[dict[str, Any]] = []
    if enquiry.get("status") == EnquiryStatus.OPEN:
        roster = await offered_colleagues(request, session)
    offered = names_of(roster)
    named = await member_names(request, session, [p for p in _people(enquiry) if p not in offered])
    return {"enquiry": enquiry, "roster": roster, "names": offered | named}


def _people(enquiry: dict[str, Any]) -> list[str | None]:
    """Who an enquiry's page names: its owner and, in its history, who acted and whom it was
    handed from and to."""
    people = [enquiry.get("owner_id"), enquiry.get("taken_by")]
    for h in enquiry.get("history", []):
        detail = h.get("detail") or {}
        people += [h.get("actor_id"), detail.get("from"), detail.get("to")]
    return people


def _render_enquiry(
    request: Request, session: Session, data: dict[str, Any], status_code: int = 200, **more: Any
) -> HTMLResponse:
    enquiry = data["enquiry"]
    limit = enquiry.get("time_limit")
    can_work = enquiry.get("status") == EnquiryStatus.OPEN and (
        session.has_role("supervisor")
        or (session.has_role(*TAKERS) and enquiry.get("owner_id") == session.staff_id)
    )
    return render(
        request, "enquiries/enquiry.html", status_code, **data, can_work=can_work,
        countdown=countdown(limit, datetime.now(UTC)) if limit else None,
        remaining=remaining_text, **more,
    )  # fmt: skip


@router.get("/enquiries/{number}")
async def enquiry_page(
    request: Request, session: PageSession, number: str, done: str | None = None
) -> HTMLResponse:
    data = await _page_data(request, session, number)
    shown = done if done in ACTIONS or done == "taken" else None
    return _render_enquiry(request, session, data, done=shown)


@router.post("/enquiries/{number}/{action}")
async def enquiry_action(
    request: Request, session: CurrentSession, form: CheckedForm, number: str, action: str
) -> Response:
    """One form of the enquiry page. Done: back to its page (post/redirect/get), or for a
    complaint, to the case opened. Refused or invalid: the page again with the service's
    reason and what was typed, nothing changed."""
    spec = ACTIONS.get(action)
    if spec is None:
        return render(request, "errors/error.html", 404, kind="notfound")
    body = body_of(spec, form)
    if action == HANDOVER and body.get("to"):  # a colleague named by name: their staff id
        colleague = await colleague_id(request, session, str(body["to"]))
        if isinstance(colleague, Reason):
            data = await _page_data(request, session, number)
            shown = {"refusal": colleague, "field_errors": {"to": colleague}}
            return _render_enquiry(request, session, data, 422, failed=action, typed=body, **shown)
        body["to"] = colleague
    try:
        answer = await _backend(request).post(
            session, "complaints", f"/v1/enquiries/{segment(number)}/{spec.route}", json=body,
            reason=f"咨询 {number}",
        )  # fmt: skip
    except (Refused, Problem) as exc:
        data = await _page_data(request, session, number)
        status_code, shown = refused_step(exc)
        return _render_enquiry(
            request, session, data, status_code, failed=action, typed=body, **shown
        )
    case = answer.get("case") if action == "complaint" else None
    if case and not case.get("redacted"):
        return RedirectResponse(f"/cases/{case['case_number']}?done=opened", 303)
    return RedirectResponse(f"/enquiries/{number}?done={action}", 303)
