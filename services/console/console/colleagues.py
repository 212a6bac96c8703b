"""Naming a colleague on a form (the member of staff a patient praised) by name: the field
offers the roster's active members as the enquiry hand-over's does (a `datalist` whose
options are staff ids labelled by name: `partials/colleagues.html`), and what was typed,
picked or not, is made a staff id before it is sent: an id as the roster has it, or the one
member whose name it is (or, failing that, holds it). A name matching nobody or several is
refused beside the field, with who matched, and what was typed is kept.

The names come from the follow-up service's `GET /v1/staff-directory` (any member of staff may
read it: active members' ids, names, departments and roles, no phones), since the person at
the desk (an agent) may not read the roster itself."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import Request

from console.backend import Backend, NotFound, Refused, Unavailable
from console.pages import names_of
from console.refusals import Reason
from console.session import Session
from console.wording import translate
from hospital_shared import staff_ids

OFFERED = 500  # the most members a form's list offers (the enquiry hand-over's too)
SHOWN_IN_REFUSAL = 5  # the most matching members a refusal names
# The most members a typed name is looked for among: enough that the one with exactly that
# name or id is among those holding it.
LOOKED_AT = 100
SEARCHED_AT_MOST = 64  # the directory's `q`
NAMED_AT_ONCE = 200  # the directory's `id`: the most members one request names


async def colleagues(
    request: Request, session: Session, q: str | None = None, limit: int = OFFERED
) -> list[dict[str, Any]]:
    """Active members of staff by name (with `q`: those whose id or name holds it)."""
    backend: Backend = request.app.state.backend
    found = await backend.get(
        session, "followup", "/v1/staff-directory", params={"q": q, "limit": limit}
    )
    members: list[dict[str, Any]] = found["items"]
    return members


async def offered_colleagues(request: Request, session: Session) -> list[dict[str, Any]]:
    """The members a form's list offers; none when the directory does not answer (the form
    still works: a staff id typed goes to the service as typed, see `colleague_id`)."""
    try:
        return await colleagues(request, session)
    except (Unavailable, Refused):
        return []


async def member_names(
    request: Request, session: Session, staff_ids: Iterable[str | None]
) -> dict[str, str]:
    """The names of these members, active or not (the `person` macro's `names`): who handled
    the work a list or page shows. None when the directory does not answer: the ids are
    shown, and the page still works."""
    wanted = sorted({i for i in staff_ids if i})[:NAMED_AT_ONCE]
    if not wanted:
        return {}
    backend: Backend = request.app.state.backend
    try:
        found = await backend.get(session, "followup", "/v1/staff-directory", params={"id": wanted})
    except (Unavailable, Refused, NotFound):
        return {}
    return names_of(found["items"])


def named(typed: str, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Of `members` (those whose id or name holds `typed`), whom `typed` names: the member with
    that id, else those with that name, else all of them."""
    wanted = typed.casefold()
    by_id = [m for m in members if m["staff_id"].casefold() == wanted]
    by_name = [m for m in members if m["name"].casefold() == wanted]
    return by_id or by_name or members


def _said(key: str, lang: str, **values: str) -> str:
    return translate(key, lang).format(**values)


def refusal(typed: str, matched: list[dict[str, Any]]) -> Reason:
    """Why `typed` names no one member: nobody matches, these several do, or it is part of
    one member's name or id only."""
    if not matched:
        key = "colleague.error.nobody"
        return Reason(_said(key, "en", typed=typed), _said(key, "zh", typed=typed))
    names = [f"{m['name']} ({m['staff_id']})" for m in matched[:SHOWN_IN_REFUSAL]]
    more = "…" if len(matched) > SHOWN_IN_REFUSAL else ""
    key = "colleague.error.several" if len(matched) > 1 else "colleague.error.partial"
    return Reason(
        _said(key, "en", typed=typed, members=", ".join(names) + more),
        _said(key, "zh", typed=typed, members="、".join(names) + more),
    )


def as_id(typed: str) -> str:
    """`typed` as the roster's saves make an id of it (`hospital_shared.staff_ids`:
    `Ｓ－ＡＧＥＮＴ－０１` and ` S-AGENT-01 ` are `S-AGENT-01`), or as typed when it cannot be one
    (a name): looked up like that, a member is found by the id they were saved with."""
    try:
        return staff_ids.staff_id(typed)
    except staff_ids.NotAStaffId:
        return typed


async def colleague_id(request: Request, session: Session, typed: str) -> str | Reason:
    """The staff id of the one active member `typed` (an id or a name) names, or the refusal."""
    if len(typed) > SEARCHED_AT_MOST:  # longer than any id or name the roster searches
        return refusal(typed, [])
    wanted = as_id(typed)
    try:
        found = await colleagues(request, session, q=wanted, limit=LOOKED_AT)
    except (Unavailable, Refused):
        # the directory away: what was typed goes as an id, and the service, which checks a
        # staff id against its roster, refuses one it does not know (a name, then, too)
        return wanted
    matched = named(wanted, found)
    if len(matched) == 1 and _is_whole(wanted, matched[0]):
        return str(matched[0]["staff_id"])
    return refusal(typed, matched)


def _is_whole(typed: str, member: dict[str, Any]) -> bool:
    """`typed` is the member's whole id or whole name: part of a name (张 for the one 张三 on
    the roster) is asked again, not taken for them (praise on record for the wrong person)."""
    return typed.casefold() in (member["staff_id"].casefold(), member["name"].casefold())
