"""HTTP routes for the staff roster and the effective follow-up policy."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from followup import handback, roster
from followup.access import Staff, Supervising, supervisor_scope_refused
from followup.api import Svc
from hospital_shared.auth import Principal, Role
from hospital_shared.http_api import Conn, Page, PageRequest, WireTime, page_query, wire_phone
from hospital_shared.http_guard import GuardedRoute, field_refused
from hospital_shared.problems import VERSION_MISMATCH
from hospital_shared.service_events.followup import StaffRole

# Text as the roster event (StaffMemberSaved) takes it: stripped, not empty. A blank name or
# department, or a long staff id, passed the route and failed building the event inside it (a
# 500): the event's id is `staff:<staff id>:<16 digits>`, at most 200 characters, so a staff
# id of 178 or more broke it (found by schemathesis). 64 is plenty for a hospital's ids.
StaffId = Annotated[
    str, Path(), StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


class StaffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    department_code: Code
    role: StaffRole
    capacity: int = Field(ge=0, le=1000)
    phone: str | None = Field(
        default=None,
        max_length=32,
        description="stored in E.164; one that is not a phone is refused (422), except the "
        "member's stored phone sent back as it is",
    )
    active: bool = True
    expected_version: int | None = Field(
        default=None,
        ge=0,
        description="the member's `version` the sender read, 0 for a new member: the save is "
        "refused (409) when the member is at another (an id already on the roster, for 0); "
        "none: saved over whatever the roster holds",
    )


MEMBER_EXAMPLE: dict[str, Any] = {
    "staff_id": "S-AGENT-01", "name": "客服 王芳", "department_code": "CS", "role": "agent",
    "capacity": 40, "phone": "+8613700000000", "active": True,
    "updated_at": "2026-01-02T02:00:00Z", "version": 2, "open_tasks": 3,
}  # fmt: skip


class MemberOut(BaseModel):
    """A member of staff on the roster (with their open follow-up tasks, in a list)."""

    model_config = ConfigDict(json_schema_extra={"example": MEMBER_EXAMPLE})

    staff_id: str
    name: str
    department_code: str
    role: str
    capacity: int
    phone: str | None = Field(description="E.164")
    active: bool
    updated_at: WireTime
    version: int = Field(description="raised by every save that changes the member")
    open_tasks: int | None = None


class MemberSaved(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"changed": True, "handed_back": 0, "member": MEMBER_EXAMPLE}}
    )

    changed: bool = Field(description="false when the roster already said so")
    handed_back: int = Field(
        default=0,
        description="the member's open follow-up calls this save handed back for assignment "
        "(a deactivation's; a role change's: those the new role may not make; a department "
        "change's: those not of the new department; 0 otherwise)",
    )
    member: MemberOut


HANDBACK_EXAMPLE: dict[str, Any] = {
    "staff_id": "S-AGENT-01", "role": "admin", "department_code": "CS", "active": True,
    "calls": 3,
}  # fmt: skip


class HandbackOut(BaseModel):
    """What saving the member with a role, department and state would hand back now (a count,
    no call)."""

    model_config = ConfigDict(json_schema_extra={"example": HANDBACK_EXAMPLE})

    staff_id: str
    role: StaffRole
    department_code: str | None = Field(
        default=None, description="the department asked about; null: the one they have"
    )
    active: bool
    calls: int = Field(
        description="their open follow-up calls the save would hand back for assignment: all "
        "when made inactive; kept active, those the new role may not make when it changes and "
        "those not of the new department when it changes; else 0"
    )


class PolicyOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"department_code": "CARD", "policy": {"inpatient_due_days": 3.0}}
        }
    )

    department_code: str
    policy: dict[str, Any] = Field(description="the department's effective follow-up policy")


def member_out(row: Any) -> MemberOut:
    return MemberOut(**{**dict(row), "phone": wire_phone(row["phone"])})


CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the member is not at `expected_version` (0: the id is on the roster)"}
}
router = APIRouter(prefix="/v1", tags=["staff roster"], route_class=GuardedRoute)
StaffPage = Annotated[PageRequest, Depends(page_query(default=500, maximum=1000))]


Search = Annotated[
    str | None,
    Query(
        max_length=64,
        pattern=r"\S",
        description="only members whose staff id or name holds this (any case; not blank)",
    ),
]


@router.get("/staff", response_model=Page[MemberOut])
async def list_staff(
    request: Request,
    conn: Conn,
    principal: Supervising,
    page: StaffPage,
    department: str | None = None,
    q: Search = None,
) -> Page[MemberOut]:
    """The roster by staff id, a page at a time (follow `next`): a supervisor's department, or
    any (operations); with `q`, the members whose id or name holds it."""
    if supervisor_scope_refused(principal, department):
        raise HTTPException(403, "a supervisor sees their own department only")
    department = principal.department if principal.role == Role.SUPERVISOR else department
    after = page.position({"staff_id"})
    rows = await roster.list_members(
        conn, department, after=str(after["staff_id"]) if after else None,
        limit=page.limit + 1, search=(q or "").strip() or None,
    )  # fmt: skip
    shown = rows[: page.limit]
    last = {"staff_id": shown[-1]["staff_id"]} if len(rows) > page.limit else None
    return page.page(request, [member_out(r) for r in shown], last)


class Colleague(BaseModel):
    """An active member of staff as any member may see them: no phone, no workload."""

    staff_id: str
    name: str
    department_code: str
    role: str


class Directory(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"items": [
            {"staff_id": "S-DOC-01", "name": "医生 李明", "department_code": "CARD",
             "role": "doctor"}]}}
    )  # fmt: skip

    items: list[Colleague]


# The most members one `GET /v1/staff-directory?id=` names: a console list's page of work
# (at most 100 rows, two people each).
NAMED_AT_ONCE = 200

Named = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] | None,
    Query(
        alias="id",
        max_length=NAMED_AT_ONCE,
        description="these members (repeat the parameter), active or not: the names of those"
        " who handled the work a list shows; `q` is then not allowed",
    ),
]


@router.get("/staff-directory", response_model=Directory)
async def staff_directory(
    conn: Conn,
    _: Staff,
    q: Search = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ids: Named = None,
) -> Directory:
    """Active members of every department by name, with `q` those whose id or name holds it:
    for staff who name a colleague (the member a patient praised) by name. With `id`, the
    members named, active or not (a case handled by someone who has left is still theirs).
    The roster itself (`GET /v1/staff`, with phones and workloads) stays a supervisor's and
    operations'."""
    if ids is not None:
        if q is not None:
            raise field_refused(["query", "id"], "`id` and `q` cannot be given together")
        rows = await roster.named(conn, sorted(set(ids)))
    else:
        rows = await roster.directory(conn, search=(q or "").strip() or None, limit=limit)
    return Directory(items=[Colleague(**dict(r)) for r in rows])


def in_scope(principal: Principal, staff_id: str, row: Any) -> Any:
    """`row`, the member `staff_id`, when the caller may read them. A supervisor is refused
    alike (403) a member of another department and one not on the roster, as complaints'
    `GET /v1/staff/{id}/handback` does: a 404 for one and a 403 for the other told them
    which of another department's staff ids exist. Operations get the 404."""
    department = row["department_code"] if row is not None else None
    if principal.role == Role.SUPERVISOR and department != principal.department:
        raise HTTPException(403, "a supervisor sees their own department only")
    if row is None:
        raise HTTPException(404, f"no such member of staff: {staff_id}")
    return row


def _refused(exc: roster.FieldRefused) -> RequestValidationError:
    return field_refused(list(exc.loc), str(exc))


async def _found(conn: Any, staff_id: str, read: roster.Read | None = None) -> tuple[str, Any]:
    """`roster.find_member`, its `FieldRefused` a 422 naming the path's `staff_id`."""
    try:
        return await roster.find_member(conn, staff_id, read)
    except roster.FieldRefused as exc:
        raise _refused(exc) from None


@router.get("/staff/{staff_id}/handback", response_model=HandbackOut)
async def handback_of(
    staff_id: StaffId,
    conn: Conn,
    principal: Supervising,
    role: StaffRole,
    active: bool = True,
    department: Annotated[Code | None, Query()] = None,
) -> HandbackOut:
    """How many open calls `PUT /v1/staff/{staff_id}` with `role`, `department` (none: the one
    they have) and `active` would hand back now (the console asks before such a save): who may
    save the member may ask."""
    staff_id, member = await _found(conn, staff_id)
    in_scope(principal, staff_id, member)
    calls = await handback.calls_to_hand_back(
        conn, staff_id, active=active, role=role.value, department=department
    )
    return HandbackOut(staff_id=staff_id, role=role, department_code=department, active=active,
                       calls=calls)  # fmt: skip


@router.get("/staff/{staff_id:path}", response_model=MemberOut)
async def one_member(staff_id: StaffId, conn: Conn, principal: Supervising) -> MemberOut:
    """One member by staff id, with their open follow-up tasks: a supervisor's department's
    (another's, or an id not on the roster, is a 403: `in_scope`), any (operations). Declared
    after `/handback`, and with the rest of the path as the id: `/v1/staff/%2F` was no route, and
    the app answered it with a redirect to `/v1/staff/` (307, no Location the console followed);
    an id with `/` is one that cannot be a staff id (422). Found as a save finds them
    (`roster.find_member`: `Ｓ－ＡＧＥＮＴ－０１` is `S-AGENT-01`)."""
    staff_id, row = await _found(conn, staff_id, roster.member_with_tasks)
    return member_out(in_scope(principal, staff_id, row))


@router.put("/staff/{staff_id:path}", response_model=MemberSaved, responses=CONFLICT)
async def save_staff(
    staff_id: StaffId, body: StaffIn, conn: Conn, principal: Supervising
) -> MemberSaved:
    """Add or change the member `staff_id` (a new one's id: visible ASCII letters, digits and
    `- _ .`, full-width ones taken as ASCII; `/` is refused like any other, 422). With
    `expected_version`, refused (409) unless the member is still at it: 0 adds only."""
    fields = body.model_dump(exclude={"expected_version"})
    try:
        async with conn.transaction():
            saved, row = await roster.save_as(
                conn, principal, staff_id, fields, expected_version=body.expected_version
            )
    except roster.NotYourDepartment as exc:
        raise HTTPException(403, str(exc)) from None
    except roster.FieldRefused as exc:
        raise _refused(exc) from None
    except roster.StaleMember as exc:
        detail = {"message": str(exc), "type": VERSION_MISMATCH,
                  "current_version": exc.current_version}  # fmt: skip
        raise HTTPException(409, detail=detail) from None
    return MemberSaved(changed=saved.changed, handed_back=saved.handed_back, member=member_out(row))


@router.get("/policy/{department}", response_model=PolicyOut)
async def effective_policy(department: str, svc: Svc, _: Staff) -> PolicyOut:
    policy = svc.book.for_department(department)
    return PolicyOut(department_code=department, policy=asdict(policy))
