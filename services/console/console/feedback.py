"""Praise (表扬) and suggestions (建议) at the console, the two kinds of feedback besides
complaints, taken on every channel. Praise names the member of staff praised (the service files
it under their department); a suggestion gets one answer and an outcome, adopted or not, from a
supervisor of its department or whoever recorded it.

Every read and step goes to the complaints service's `/v1/feedback` with the signed-in person's
token; the service decides who may see and answer what, the page shows its reason when it
refuses, with what was typed kept. A new one's form carries its own key (`external_id`): a
second press of the button records it once. Each has its own page (`GET /v1/feedback/{number}`)
with the answer form, as an enquiry has: a refusal is shown beside the form it refused, and the
list stays a list."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.backend import Backend, Problem, Refused, segment
from console.case_actions import CaseAction, Field, body_of
from console.categories import Offered, last_read, offered
from console.colleagues import colleague_id, member_names, offered_colleagues
from console.desk import cursor_of, page_url, refused_step
from console.desk_forms import Checked, DeskForm, contact_parts, send_form
from console.inbox import PageSession, page_session
from console.pages import render
from console.refusals import Reason
from console.session import CheckedForm, CurrentSession, Session, require_session
from console.wording import translate
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.vocabulary import (
    FeedbackChannel,
    FeedbackKind,
    SuggestionOutcome,
)

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)

RECORDERS = ("agent", "doctor", "supervisor")  # who record feedback (complaints' STAFF)
PAGE_SIZE = 50
KINDS = tuple(FeedbackKind)
CHANNELS = tuple(FeedbackChannel)
OUTCOMES = tuple(SuggestionOutcome)
FIELDS = (
    "kind", "channel", "category", "department_code", "department_name", "staff_id",
    "patient_id", "patient_name", "patient_phone", "received_at", "text", "external_id",
    "lookup",
)  # fmt: skip
# the service's place of a field in the body -> the form's field
BODY_FIELDS = {
    "patient.patient_id": "patient_id", "patient.name": "patient_name",
    "patient.phone": "patient_phone", "patient": "patient_id", "kind": "kind",
    "channel": "channel", "category": "category", "department.code": "department_code",
    "department.name": "department_name", "department": "department_code",
    "staff_id": "staff_id", "received_at": "received_at", "text": "text",
}  # fmt: skip
ANSWER = CaseAction("answer", (Field("answer", "required"), Field("outcome", "required")))
REASON = "表扬建议登记"


def _backend(request: Request) -> Backend:
    found: Backend = request.app.state.backend
    return found


@router.get("/feedback")
async def feedback_list(
    request: Request,
    session: PageSession,
    kind: str = "",
    department: Annotated[str, Query(max_length=64)] = "",
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    back: Annotated[str, Query(max_length=50_000)] = "",
    recorded: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    """Praise and suggestions the person may see, newest first, a page at a time (the desk
    queue's paging: `back` holds the cursors of the pages before this one)."""
    params = {
        "kind": kind if kind in KINDS else None,
        "department": department.strip() or None,
        "limit": PAGE_SIZE,
        "cursor": cursor,
    }
    answer = await _backend(request).get(
        session, "complaints", "/v1/feedback", params=params, reason="表扬建议 列表"
    )
    trail = [c for c in back.split(",") if c]
    following = cursor_of(answer["next"])
    items = answer["items"]
    names = await member_names(
        request, session, [i.get(f) for i in items for f in ("staff_id", "recorded_by")]
    )
    return render(
        request, "feedback/list.html", items=items, kinds=KINDS, names=names,
        chosen={"kind": kind, "department": department}, page=len(trail) + 1,
        prev_url=page_url(request, trail[-1], trail[:-1]) if trail else None,
        next_url=page_url(request, following, [*trail, cursor or "-"]) if following else None,
        can_record=session.has_role(*RECORDERS), recorded=recorded,
    )  # fmt: skip


async def _recorder(request: Request) -> Session:
    """The signed-in recorder, and what their form offers: the categories of each kind the
    complaints service files under (a hospital's own), and the colleagues to name."""
    session = await require_session(request)
    await page_session(request, session)
    if not session.has_role(*RECORDERS):
        raise Refused("only the staff who take feedback record it")
    await offered(request, session)
    request.state.colleagues = await offered_colleagues(request, session)
    return session


def _form_page(
    request: Request, typed: dict[str, str], status_code: int = 200, **more: Any
) -> HTMLResponse:
    categories = {kind: last_read(request)[kind] for kind in KINDS}
    return render(
        request, "feedback/new.html", status_code, typed=typed, kinds=KINDS, channels=CHANNELS,
        categories=categories, colleagues=request.state.colleagues,
        errors=more.pop("errors", {}), **more,
    )  # fmt: skip


@router.get("/feedback/new")
async def new_feedback_form(request: Request, kind: str = "") -> HTMLResponse:
    await _recorder(request)
    typed = dict.fromkeys(FIELDS, "") | {
        "kind": kind if kind in KINDS else FeedbackKind.PRAISE, "channel": "onsite",
        "external_id": f"feedback-form-{uuid.uuid4()}",
    }  # fmt: skip
    return _form_page(request, typed)


def _other_kinds_category() -> Reason:
    key = "feedback.error.category_of_kind"
    return Reason(translate(key, "en"), translate(key, "zh"))


def misfiled_category(typed: dict[str, str], categories: Offered) -> Reason | None:
    """The refusal of a category the service does not file the kind chosen under (one of the
    other kind's: the service would file it as other without a word)."""
    kind, category = typed["kind"], typed["category"]
    if kind in KINDS and category and category not in categories[kind]:
        return _other_kinds_category()
    return None


async def _checked(request: Request, session: Session, typed: dict[str, str]) -> Checked:
    """What the console checks before sending: the category against those the service files
    the kind under, and the member praised, typed by name or id, as their staff id."""
    errors: dict[str, str] = {}
    misfiled = misfiled_category(typed, await offered(request, session))
    if misfiled:
        errors["category"] = misfiled
    if not typed["staff_id"]:
        return {}, errors
    found = await colleague_id(request, session, typed["staff_id"])
    if isinstance(found, Reason):
        return {}, errors | {"staff_id": found}
    return {"staff_id": found}, errors


def feedback_body(typed: dict[str, str], tz: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The form as the complaints service's `POST /v1/feedback`, and the errors found before
    sending it: the time received (which the console parses) and the kind."""
    body, errors = contact_parts(typed, tz, "received_at")
    kind = typed["kind"]
    if kind not in KINDS:
        errors["kind"] = "required"
    body |= {
        "kind": kind,
        "channel": typed["channel"] or FeedbackChannel.ONSITE,
        "text": typed["text"],
        "external_id": typed["external_id"] or None,
    }
    for name in ("category", "staff_id"):
        if typed[name]:
            body[name] = typed[name]
    return body, errors


RECORDING = DeskForm(
    FIELDS, feedback_body, _form_page, "/v1/feedback", REASON, BODY_FIELDS, "text", _checked
)


@router.post("/feedback/new")
async def record_feedback(request: Request, form: CheckedForm) -> Response:
    """The lookup of the patient, or the feedback recorded: either way nothing typed is lost;
    recorded, back to the list naming its number."""
    session = await _recorder(request)
    recorded = await send_form(request, session, form, RECORDING)
    if isinstance(recorded, HTMLResponse):
        return recorded
    return RedirectResponse(f"/feedback?recorded={recorded['feedback_number']}", 303)


def can_answer(session: Session, item: dict[str, Any]) -> bool:
    """Whether the page offers the answer form: an unanswered suggestion, to a supervisor or to
    whoever recorded it (the service checks the department)."""
    if item.get("redacted") or item.get("kind") != FeedbackKind.SUGGESTION:
        return False
    if item.get("answered_at"):
        return False
    return session.has_role("supervisor") or (
        session.has_role(*RECORDERS) and item.get("recorded_by") == session.staff_id
    )


async def _render_item(
    request: Request, session: Session, number: str, status_code: int = 200, **more: Any
) -> HTMLResponse:
    item = await _backend(request).get(
        session, "complaints", f"/v1/feedback/{segment(number)}", reason=f"表扬建议 {number}"
    )
    names = await member_names(
        request, session, [item.get(f) for f in ("staff_id", "recorded_by", "answered_by")]
    )
    return render(
        request, "feedback/item.html", status_code, item=item, outcomes=OUTCOMES, names=names,
        can_answer=can_answer(session, item), **more,
    )  # fmt: skip


@router.get("/feedback/{number}")
async def feedback_page(
    request: Request, session: PageSession, number: str, done: str | None = None
) -> HTMLResponse:
    return await _render_item(request, session, number, done=done == ANSWER.route)


@router.post("/feedback/{number}/answer")
async def answer_suggestion(
    request: Request, session: CurrentSession, form: CheckedForm, number: str
) -> Response:
    """The suggestion's answer and outcome. Done: back to its page (post/redirect/get).
    Refused or invalid: the page again with the service's reason and what was typed (the form
    shown even when the page would not offer it now: the refusal sits beside it)."""
    body = body_of(ANSWER, form)
    try:
        await _backend(request).post(
            session, "complaints", f"/v1/feedback/{segment(number)}/answer", json=body,
            reason=f"表扬建议 {number}",
        )  # fmt: skip
    except (Refused, Problem) as exc:
        status_code, shown = refused_step(exc)
        return await _render_item(
            request, session, number, status_code, failed="answer", typed=body, **shown
        )
    return RedirectResponse(f"/feedback/{number}?done=answer", 303)
