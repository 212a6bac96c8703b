"""The survey questionnaires' screen (满意度问卷): what a follow-up call and the patient's survey
page ask for each kind of contact, which operations changed with hand-made
`PUT /v1/questionnaires/{kind}` calls to the notifications service.

Staff may read them (`GET /v1/questionnaires`: the version in force of each kind); operations
(admin) save a new version through that PUT with their token. A version is never changed once
saved (hospital_shared.questionnaires): an answer keeps the version it was given with, so the
form edits the version in force into the next one. The questions are edited in the form
(console/questionnaire_form.py): add, remove, move up or down, each one's text, aspect and
answer; the service decides what is valid and its refusal is shown beside the question and
field it names, what was typed kept. A save redirects to the kind's page
(`?kind=<kind>&saved=<version>`, POST-redirect-GET). The form names the version it was made
from; when someone saved another meanwhile (the service's 409) the form is shown again as
typed, saying which version is now in force with a link to it, and made from that one: saving
again, after a look, replaces it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.backend import NotFound, Problem, Refused, backend_of, segment
from console.inbox import PageSession
from console.pages import render
from console.questionnaire_form import (
    ANSWERS,
    Draft,
    draft_of,
    edited,
    errors_by_field,
    questionnaire_body,
    typed_draft,
)
from console.session import CheckedForm, CurrentSession, Session
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.questionnaires import MAX_QUESTIONS
from hospital_shared.vocabulary import Aspect

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)
EDITORS = ("admin",)  # notifications' `Operations`
REASON = "满意度问卷维护"


def may_edit(session: Session) -> bool:
    return session.has_role(*EDITORS)


async def _questionnaires(request: Request, session: Session) -> list[dict[str, Any]]:
    found = await backend_of(request).get(session, "notifications", "/v1/questionnaires",
                                        params={"limit": 50})  # fmt: skip
    return list(found["items"])


def _shown(questionnaires: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    """The kind asked for (none: None); a kind the service has no questionnaire of is a 404."""
    if not kind:
        return None
    found = next((q for q in questionnaires if q["kind"] == kind), None)
    if found is None:
        raise NotFound(f"no questionnaire of kind {kind[:40]}")
    return found


async def _page(
    request: Request, session: Session, kind: str, status: int = 200,
    known: list[dict[str, Any]] | None = None, **more: Any,
) -> HTMLResponse:  # fmt: skip
    """The kinds' questionnaires in force (`known`, else asked for), `kind`'s questions, and
    the form when `more` has a `draft`."""
    questionnaires = known if known is not None else await _questionnaires(request, session)
    return render(
        request, "questionnaires/page.html", status, questionnaires=questionnaires,
        current=_shown(questionnaires, kind), may_edit=may_edit(session), aspects=list(Aspect),
        answers=ANSWERS, max_questions=MAX_QUESTIONS, errors=more.pop("errors", {}), **more,
    )  # fmt: skip


@router.get("/questionnaires")
async def questionnaires_page(
    request: Request, session: PageSession, kind: str = "", edit: str = "", saved: str = ""
) -> HTMLResponse:
    """The questionnaires in force; with `kind`, its questions; with `edit=1` (operations) the
    form for its next version; with `saved` (where a save redirects) the message that it was
    saved as that version."""
    questionnaires = await _questionnaires(request, session)
    current = _shown(questionnaires, kind)
    more: dict[str, Any] = {"saved": saved if saved.isdigit() and len(saved) < 10 else ""}
    if current is not None and edit == "1" and may_edit(session):
        more["draft"] = draft_of(current)
    return await _page(request, session, kind, known=questionnaires, **more)


async def _saved(request: Request, session: Session, draft: Draft) -> Response:
    """Save `draft` as its kind's next version: to its page saying so, or the form again as
    typed with the service's (or the console's) reasons beside their fields."""
    body, errors = questionnaire_body(draft)
    if errors:
        return await _page(request, session, draft.kind, 422, draft=draft, errors=errors)
    try:
        saved = await backend_of(request).call(
            session, "notifications", "PUT", f"/v1/questionnaires/{segment(draft.kind)}",
            json=body, reason=REASON,
        )  # fmt: skip
    except Refused as exc:
        return await _page(request, session, draft.kind, 403, draft=draft, message=exc.reason)
    except Problem as exc:
        if exc.status == 409:
            return await _changed_meanwhile(request, session, draft)
        errors = errors_by_field(exc.indexed, len(draft.questions))
        return await _page(request, session, draft.kind, exc.status, draft=draft, errors=errors,
                           message=exc.message)  # fmt: skip
    return RedirectResponse(
        f"/questionnaires?kind={draft.kind}&saved={saved['version']}#qn-saved", status_code=303
    )


async def _changed_meanwhile(request: Request, session: Session, draft: Draft) -> HTMLResponse:
    """The form as typed, now made from the version in force, saying it changed meanwhile."""
    known = await _questionnaires(request, session)
    in_force = _shown(known, draft.kind)
    assert in_force is not None  # a kind it has: `_shown` found it before the save
    rebased = replace(draft, base_version=str(in_force["version"]))
    return await _page(request, session, draft.kind, 409, known=known, draft=rebased,
                       changed_meanwhile=in_force["version"], replaced=draft.base_version)  # fmt: skip


@router.post("/questionnaires")
async def edit_questionnaire(
    request: Request, session: CurrentSession, form: CheckedForm
) -> Response:
    """`do=save`: save the form as the kind's next version. Any other button (`add`,
    `up-<n>`, `down-<n>`, `remove-<n>`) gives the form back with that edit made, not saved."""
    if not may_edit(session):
        raise Refused("questionnaires are changed by operations")
    draft = typed_draft(form)
    known = await _questionnaires(request, session)
    _shown(known, draft.kind)  # a kind it has, else 404
    action = str(form.get("do") or "save")
    if action == "save":
        return await _saved(request, session, draft)
    changed, place = edited(draft, action)
    return await _page(request, session, draft.kind, known=known, draft=changed, moved=place,
                       unsaved=True)  # fmt: skip
