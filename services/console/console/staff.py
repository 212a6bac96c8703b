"""The staff roster's screen (人员名单), operations' (admin) own: who is on the roster, in
which department, with what role, capacity and phone. Follow-up calls and complaint cases go
only to people on it, and it was kept by hand-made `PUT /v1/staff/{id}` calls with a token.
Adding, editing and deactivating a member are that same call (follow-up's staff_api.py, which
decides what is valid: its field errors are shown beside their field, everything typed kept);
a member is never deleted, only made inactive (their history keeps their id).

Deactivating asks first, without script: the row's 停用 opens a confirmation on the page
(`?deactivate=<id>`) that names the member and says what will be handed back
(`staff_handback.py`): their open follow-up calls (follow-up hands them back for assignment),
the open complaint cases they handle and supervise and the open enquiries they own and
supervise (the complaints service gives them to their department's active staff); only its
确认停用 posts, with `confirmed=1`. A POST without it (a page from before, a second tab) comes
back to the confirmation. The edit form saved with 在岗 unticked for an active member is the
same deactivation: it gets the same confirmation, whose form carries everything typed, so
确认停用 saves the whole edit. An edit that keeps an active member active with another role
that will hand work back (an agent made operations, a supervisor made an agent while
supervising) asks the same way, saying what that role may not hold, and so does one that moves
them to another department (what they hold for the old one goes back to it), or both at once;
one that hands nothing back is saved at once. The saved message says how many calls were
handed back and why (`because`), and nothing about calls when none were.

The list is follow-up's roster a page at a time (its cursors; a department and a search by id
or name narrow it), and a member named by `edit`, `saved`, `deactivate` or a POST is looked up
by id (`GET /v1/staff/{id}`): when the screen read only the first 500, a larger hospital's
member beyond them could not be found, and their edit form deactivated without asking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from console.backend import Backend, NotFound, Problem, Refused, first_reason, segment
from console.desk import cursor_of
from console.inbox import PageSession
from console.pages import render
from console.refusals import Reason, detail_reason, field_reason
from console.session import CheckedForm, CurrentSession, Session
from console.staff_handback import handing_back
from hospital_shared import staff_ids
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.service_events.followup import StaffRole

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)
FIELDS = ("staff_id", "name", "department_code", "role", "capacity", "phone", "active")
# The member's version the form showed (a hidden field, as the case page's `expected_version`):
# follow-up refuses the save (409) when the member was saved since, in another tab or by someone
# else, instead of writing over that change; the add form sends 0, refused for an id on the
# roster (it overwrote that member).
VERSION = "expected_version"
ROLES = tuple(StaffRole)
REASON = "人员名单维护"
PAGE_SIZE = 100  # members a page of the list shows
# The saved message's words for the calls an active member's edit handed back, by what changed.
CALLS_NOTES = {"department": "staff.department_calls", "both": "staff.move_calls"}


def _check(session: Session) -> None:
    if not session.has_role("admin"):
        raise Refused("the staff roster is kept by operations")


def member_body(typed: dict[str, str], *, adding: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The form as follow-up's `StaffIn`, and what the console finds wrong before sending
    (the capacity, which it parses; a new member's staff id, `hospital_shared.staff_ids`)."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {
        "name": typed["name"], "department_code": typed["department_code"],
        "role": typed["role"], "phone": typed["phone"] or None,
        "active": typed["active"] == "on",
    }  # fmt: skip
    version = 0 if adding else _number(typed[VERSION])
    if version is not None:  # none: a form from before versions, saved as it was
        body[VERSION] = version
    if typed["capacity"].isascii() and typed["capacity"].isdigit():
        body["capacity"] = int(typed["capacity"])
    else:
        errors["capacity"] = "invalid"
    if not typed["staff_id"]:
        errors["staff_id"] = "required"
    elif adding and (refused := id_refused(typed["staff_id"])):
        errors["staff_id"] = refused
    return body, errors


def id_refused(staff_id: str) -> Reason | None:
    """Why `staff_id` cannot be a new member's (the syntax follow-up holds new ids to), None
    when it can."""
    try:
        staff_ids.staff_id(staff_id)
    except staff_ids.NotAStaffId as exc:
        return field_reason("value_error", str(exc))
    return None


def _number(raw: str) -> int | None:
    """A version from the form: ASCII digits, else None (a form from before versions)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None


def typed_of(member: dict[str, Any]) -> dict[str, str]:
    """A roster member as the form shows it."""
    typed = {k: "" if member.get(k) is None else str(member[k]) for k in FIELDS}
    return typed | {"active": "on" if member.get("active", True) else "",
                    VERSION: str(member.get("version") or 0)}  # fmt: skip


@dataclass(frozen=True)
class RosterView:
    """Which part of the roster the list shows: a department, a search by id or name, and the
    page (`cursor`, the service's; `back`, the cursors of the pages before it, `-` the first)."""

    department: str = ""
    q: str = ""
    cursor: str | None = None
    back: str = ""

    def url(self, cursor: str, trail: list[str]) -> str:
        """This list at the page `cursor` starts (`-`: the first), `trail` the pages before."""
        query = {"department": self.department, "q": self.q,
                 "cursor": "" if cursor == "-" else cursor, "back": ",".join(trail)}  # fmt: skip
        shown = urlencode({k: v for k, v in query.items() if v})
        return f"/staff?{shown}" if shown else "/staff"


async def _roster(request: Request, session: Session, view: RosterView) -> dict[str, Any]:
    """One page of the roster as follow-up's `GET /v1/staff` pages it (by staff id), with the
    links to the pages before and after it."""
    api: Backend = request.app.state.backend
    params = {"department": view.department, "q": view.q, "limit": PAGE_SIZE,
              "cursor": view.cursor}  # fmt: skip
    found = await api.get(session, "followup", "/v1/staff", params=params)
    trail = [c for c in view.back.split(",") if c]
    following = cursor_of(found["next"])
    return {
        "roster": list(found["items"]), "view": view, "page": len(trail) + 1, "page_size": PAGE_SIZE,
        "prev_url": view.url(trail[-1], trail[:-1]) if trail else None,
        "next_url": view.url(following, [*trail, view.cursor or "-"]) if following else None,
    }  # fmt: skip


async def member_of(request: Request, session: Session, staff_id: str) -> dict[str, Any] | None:
    """The member `staff_id` as follow-up has them (`GET /v1/staff/{id}`), None when not on the
    roster (or it cannot be an id: `Backend.find`): looked up by id, so a member beyond the
    list's first page is found too, as follow-up finds them (`Ｓ－ＡＧＥＮＴ－０１` is `S-AGENT-01`)."""
    if not staff_id:
        return None
    api: Backend = request.app.state.backend
    found: dict[str, Any] | None = await api.find(
        session, "followup", f"/v1/staff/{segment(staff_id)}"
    )
    return found


async def _page(
    request: Request, session: Session, typed: dict[str, str], status: int = 200, **more: Any
) -> HTMLResponse:
    listed = more.pop("listed", None) or await _roster(request, session, RosterView())
    return render(
        request, "staff/page.html", status, **listed, typed=typed, roles=ROLES,
        errors=more.pop("errors", {}), **more,
    )  # fmt: skip


@router.get("/staff")
async def staff_page(
    request: Request, session: PageSession, department: str = "", q: str = "",
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    back: Annotated[str, Query(max_length=50_000)] = "",
    edit: str = "", saved: str = "", deactivate: str = "", handed_back: str = "",
    because: str = "",
) -> HTMLResponse:  # fmt: skip
    """The roster a page at a time (`department`, `q` narrow it); `edit`, `saved` and
    `deactivate` name a member, looked up by id wherever on the roster they are."""
    _check(session)
    view = RosterView(department.strip(), q.strip(), cursor, back)
    listed = await _roster(request, session, view)
    member = await member_of(request, session, edit)
    typed = typed_of(member) if member else typed_of({"role": "agent", "capacity": 40})
    shown = await member_of(request, session, saved)
    leaving = await member_of(request, session, deactivate)
    leaving = leaving if leaving and leaving["active"] else None
    handing = leaving and await handing_back(
        request, session, leaving, role=leaving["role"], active=False
    )
    return await _page(request, session, typed, listed=listed, editing=member is not None,
                       saved=shown, leaving=leaving, handing=handing,
                       handed_back=_count(handed_back),
                       calls_note=CALLS_NOTES.get(because, "staff.role_calls"))  # fmt: skip


def _count(raw: str) -> int:
    """A count from the query (`handed_back`): ASCII digits, a few of them, else 0 (`"²"` is a
    digit to `isdigit` and not to `int`)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else 0


async def _put(request: Request, session: Session, staff_id: str, body: dict[str, Any]) -> Any:
    api: Backend = request.app.state.backend
    return await api.call(session, "followup", "PUT", f"/v1/staff/{segment(staff_id)}", json=body,
                          reason=REASON)  # fmt: skip


def _typed(form: FormData) -> dict[str, str]:
    return {name: str(form.get(name) or "").strip() for name in (*FIELDS, VERSION)}


async def _ask_first(
    request: Request, session: Session, typed: dict[str, str], body: dict[str, Any],
    member: dict[str, Any] | None, editing: bool,
) -> HTMLResponse | None:  # fmt: skip
    """The confirmation an edit of an active member needs before it is saved, None when it
    needs none: made inactive (在岗 unticked), or kept active with another role or in another
    department that will hand work back. Its form carries everything typed (`edited`); the form
    below shows it as typed."""
    if not (member and member["active"]) or (body["active"] and not _changes(member, body)):
        return None
    handing = await handing_back(
        request, session, member, role=body["role"], active=body["active"],
        department=body["department_code"],
    )  # fmt: skip
    if body["active"] and not handing.anything:
        return None
    return await _page(request, session, typed, editing=editing, leaving=member,
                       handing=handing, edited=typed)  # fmt: skip


def _changes(member: dict[str, Any], body: dict[str, Any]) -> str:
    """What an edit keeping `member` active changes that may hand work back: `role`,
    `department`, `both` or nothing (the saved message says which, `staff.<...>_calls`)."""
    role = body["role"] != member["role"]
    department = body["department_code"] != member["department_code"]
    return "both" if role and department else "role" if role else "department" if department else ""


async def _refused(
    request: Request, session: Session, typed: dict[str, str], exc: Refused | Problem | NotFound,
    editing: bool, *, adding: bool = False,
) -> HTMLResponse:  # fmt: skip
    """The form again as typed, with follow-up's refusal: its reasons beside their fields (one
    about the path, the id, beside `staff_id`), else above the form. A 409 is `_conflict`'s; a
    404 (an id the service has no path for) is beside `staff_id`."""
    if isinstance(exc, Refused):
        return await _page(request, session, typed, 403, message=exc.reason, editing=editing)
    if isinstance(exc, NotFound):
        return await _page(request, session, typed, 422, errors={"staff_id": "invalid"},
                           editing=editing)  # fmt: skip
    if exc.status == 409:
        return await _conflict(request, session, typed, exc.message, adding=adding)
    errors = {f if f in FIELDS else "staff_id": m for f, m in exc.fields.items()}
    return await _page(request, session, typed, exc.status, errors=errors,
                       message=first_reason(exc) if not errors else "", editing=editing)  # fmt: skip


async def _conflict(
    request: Request, session: Session, typed: dict[str, str], reason: str, *, adding: bool
) -> HTMLResponse:
    """A save follow-up refused for the member's version (409). Adding: the id is on the
    roster, said beside it with a link to edit them, what was typed kept. Editing: the member
    was saved since; the form shows them as they are now (their new version), with the reason
    and what to do above it (a deactivation's confirmation too)."""
    if adding:  # the id was checked before the save: follow-up's form of it names the member
        exists = staff_ids.staff_id(typed["staff_id"])
        return await _page(request, session, typed, 409, errors={"staff_id": reason},
                           exists=exists)  # fmt: skip
    member = await member_of(request, session, typed["staff_id"])
    now = typed_of(member) if member else typed
    more = "staff.stale" if member else "staff.gone"
    return await _page(request, session, now, 409, message=reason, stale=more,
                       editing=member is not None)  # fmt: skip


def _exists(staff_id: str, member: dict[str, Any]) -> Reason:
    """What the add form says beside an id on the roster (follow-up's words for its 409)."""
    return detail_reason(
        409, f"staff member {staff_id} is already on the roster (version {member['version']})"
    )


@router.post("/staff")
async def save_member(request: Request, session: CurrentSession, form: CheckedForm) -> Response:
    """Add or edit (`do=save`), or deactivate (`do=deactivate`, from the confirmation: the
    member as on the roster with `active` off). Making an active member inactive, either way,
    or giving them a role that hands work back, needs `confirmed=1`: without it, the
    confirmation (the edit form's, carrying what was typed). An add of an id on the roster, or
    an edit of a member saved since the form was shown, is refused (`_conflict`). Back to the
    roster saying who was saved and how many calls were handed back, or the form again as
    typed with the service's reasons beside their fields (`staff_id`: the id as follow-up holds
    a new one, `Ｓ-０１` is `S-01`, so the look-up finds them)."""
    _check(session)
    typed = _typed(form)
    confirmed = form.get("confirmed") == "1"
    if form.get("do") == "deactivate" and not confirmed:
        return RedirectResponse(f"/staff?deactivate={quote(typed['staff_id'])}#h-confirm",
                                status_code=303)  # fmt: skip
    editing = form.get("editing") == "1"
    adding = not editing and form.get("do") != "deactivate"
    staff_id = typed["staff_id"] if not adding or id_refused(typed["staff_id"]) else (
        staff_ids.staff_id(typed["staff_id"]))  # fmt: skip
    body, errors = member_body(typed, adding=adding)
    if errors and form.get("do") != "deactivate":  # a deactivation's form is the roster's
        return await _page(request, session, typed, 422, errors=errors, editing=editing)
    member = await member_of(request, session, staff_id)
    if adding and member is not None:
        return await _page(request, session, typed, 409, errors={"staff_id": _exists(
            staff_id, member)}, exists=staff_id)  # fmt: skip
    if form.get("do") == "deactivate":
        shown = typed_of(member or {**typed, "capacity": typed["capacity"] or "0"})
        typed = shown | {"active": "", VERSION: typed[VERSION] or shown[VERSION]}
        body, errors = member_body(typed, adding=False)
    if errors:
        return await _page(request, session, typed, 422, errors=errors, editing=editing)
    return await _save(request, session, staff_id, typed, body, member, editing=editing,
                       confirmed=confirmed)  # fmt: skip


async def _save(
    request: Request, session: Session, staff_id: str, typed: dict[str, str], body: dict[str, Any],
    member: dict[str, Any] | None, *, editing: bool, confirmed: bool,
) -> Response:  # fmt: skip
    """Ask first when the save hands work back (unless `confirmed`), else save: back to the
    roster naming the member as follow-up saved them (their id as it holds it)."""
    asked = None if confirmed else await _ask_first(request, session, typed, body, member, editing)
    if asked is not None:
        return asked
    try:
        saved = await _put(request, session, staff_id, body)
    except (Refused, Problem, NotFound) as exc:
        adding = body.get(VERSION) == 0
        return await _refused(request, session, typed, exc, editing, adding=adding)
    staff_id = ((saved or {}).get("member") or {}).get("staff_id") or staff_id
    handed_back = int((saved or {}).get("handed_back") or 0)
    because = _changes(member, body) if member and body["active"] else ""
    more = f"&handed_back={handed_back}" if handed_back else ""
    more += f"&because={because}" if more and because else ""
    return RedirectResponse(f"/staff?saved={quote(staff_id, safe='')}{more}", status_code=303)
