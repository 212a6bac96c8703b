"""The staff inbox (in-app notifications from the notifications service) with its unread
count, which every page's menu shows; opening a note marks it read and goes to the console
page of its task or case."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from console import departments
from console.backend import Backend, NotFound, Refused, Unavailable, segment
from console.pages import render
from console.session import CheckedForm, CurrentSession, Session
from hospital_shared.http_guard import GuardedRoute

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)

# subject_ref prefix -> the console page of that record
PAGES = {"task": "/calls/", "case": "/cases/"}
# Why the inbox reads notes about patients, for the access records (X-Access-Reason).
INBOX_REASON = "查看工作通知"


def page_of(subject_ref: str | None) -> str | None:
    """The console page a note is about (`task:FU-1` -> `/calls/FU-1`), or None."""
    if not subject_ref or ":" not in subject_ref:
        return None
    kind, ref = subject_ref.split(":", 1)
    prefix = PAGES.get(kind)
    return f"{prefix}{ref}" if prefix and ref else None


# A link at the end of a note's text (notes carry one for the SMS, e-mail and group-chat
# channels, where the text is all there is).
_TRAILING_LINK = re.compile(r"\s*https?://\S+$")


def shown_text(body: str | None, page: str | None) -> str | None:
    """A note's text as the inbox shows it: without the link at its end when that link is to
    `page`, the console page its "open" button goes to (the whole address said twice)."""
    if not body or not page:
        return body
    found = _TRAILING_LINK.search(body)
    if found is None or not found.group().rstrip(".。").endswith(page):
        return body
    return body[: found.start()]


async def _inbox(backend: Backend, session: Session) -> list[dict[str, Any]]:
    # The newest page (the most the service answers at once): what the menu counts and shows.
    page = await backend.get(
        session, "notifications", "/v1/inbox", params={"limit": 200}, reason=INBOX_REASON
    )
    notes: list[dict[str, Any]] = page["items"]
    return notes


async def page_session(request: Request, session: CurrentSession) -> Session:
    """The session, with the inbox's unread count for the menu (none when the inbox does not
    answer: the page itself still works). One count from the notifications service, not the
    inbox itself: every page asks for it. The department names are read too (at most a minute
    old, never failing the page: `departments`)."""
    backend: Backend = request.app.state.backend
    await departments.read(request, session)
    try:
        answer = await backend.get(session, "notifications", "/v1/inbox/unread")
        request.state.unread = int(answer["unread"])
    except (Unavailable, NotFound, Refused):
        request.state.unread = None
    return session


PageSession = Annotated[Session, Depends(page_session)]


@router.get("/inbox")
async def inbox(request: Request, session: CurrentSession) -> HTMLResponse:
    notes = await _inbox(request.app.state.backend, session)
    notes.sort(key=lambda n: n.get("created_at") or "", reverse=True)
    for note in notes:
        note["page"] = page_of(note.get("subject_ref"))
        note["text"] = shown_text(note.get("body"), note["page"])
    unread = sum(1 for n in notes if n.get("read_at") is None)
    request.state.unread = unread
    return render(request, "inbox/index.html", notes=notes, unread_total=unread)


@router.post("/inbox/{message_id}/read")
async def open_note(
    request: Request, message_id: str, session: CurrentSession, form: CheckedForm
) -> RedirectResponse:
    backend: Backend = request.app.state.backend
    note = await backend.post(
        session, "notifications", f"/v1/inbox/{segment(message_id)}/read", reason=INBOX_REASON
    )
    target = page_of(note.get("subject_ref")) if form.get("go") else None
    return RedirectResponse(target or "/inbox", status_code=303)
