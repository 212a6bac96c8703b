"""The staff roster: who may make calls, in which department, with what capacity. Every
change is published as `staff.member_saved` on the roster topic (notifications texts staff,
complaints routes cases to them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import asyncpg

from followup import handback, outgoing
from followup.access import can_manage_staff
from followup.assignment import StaffMember
from hospital_shared import staff_ids
from hospital_shared.auth import Principal, Role
from hospital_shared.http_api import NotAPhone, e164, wire_phone
from hospital_shared.service_events.followup import StaffMemberSaved, StaffRole

STAFF_COLUMNS = (
    "staff_id, name, department_code, role, capacity, phone, active, updated_at, version"
)


@dataclass(frozen=True)
class Saved:
    """What saving a member did: whether the roster changed, and how many open calls it
    handed back (a deactivation's, a role change's or a department change's: the console says
    so, and nothing when there were none)."""

    changed: bool
    handed_back: int = 0


class StaleMember(Exception):
    """A save that carried the member's version it read (`expected_version`) when the member is
    at another now: 0, an add, for an id already on the roster (the add form overwrote that
    member), or an edit of a member saved since (two tabs: the first save was lost). Nothing is
    saved; `current_version` is the member's now (0: not on the roster)."""

    def __init__(self, staff_id: str, *, expected: int, current: int) -> None:
        super().__init__(
            stale_text(
                f"staff member {staff_id}", "on the roster", expected=expected, current=current
            )
        )
        self.current_version = current


def stale_text(thing: str, where: str, *, expected: int, current: int) -> str:
    """Why a save of `thing` at version `expected` was refused, `thing` being at `current`
    `where` ("on the roster") now (0: not there): the console's refusals.json knows these."""
    if expected == 0:
        return f"{thing} is already {where} (version {current})"
    if current == 0:
        return f"{thing} is not {where}"
    return f"{thing} changed since version {expected}: it is now version {current}; reload it"


async def _locked(
    conn: asyncpg.Connection, staff_id: str, expected_version: int | None
) -> asyncpg.Record | None:
    """The member's row (what a save compares with), locked to the commit, so two saves of one
    member see each other's change; `StaleMember` when `expected_version` is not theirs."""
    before = await conn.fetchrow(
        "SELECT active, role, department_code, version FROM staff WHERE staff_id = $1 FOR UPDATE",
        staff_id,
    )
    current = before["version"] if before is not None else 0
    if expected_version is not None and expected_version != current:
        raise StaleMember(staff_id, expected=expected_version, current=current)
    return before


async def save_member(
    conn: asyncpg.Connection, member: StaffMemberSaved, *, expected_version: int | None = None
) -> Saved:
    """Insert or update (raising the member's version); publish when something changed. With
    `expected_version`, only a member still at that version (0: not on the roster) is saved
    (`StaleMember`). A member saved inactive hands back their open calls in the same
    transaction (`handback`): the assignment job gives calls to active staff only, and nothing
    else would take them back. One kept active with another role hands back those calls the
    new role may not make, one moved to another department those not of it."""
    before = await _locked(conn, member.staff_id, expected_version)
    row = await conn.fetchrow(
        """
        INSERT INTO staff (staff_id, name, department_code, role, capacity, phone, active)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (staff_id) DO UPDATE SET name = EXCLUDED.name,
            department_code = EXCLUDED.department_code, role = EXCLUDED.role,
            capacity = EXCLUDED.capacity, phone = EXCLUDED.phone, active = EXCLUDED.active,
            updated_at = now(), version = staff.version + 1
          WHERE (staff.name, staff.department_code, staff.role, staff.capacity, staff.phone,
                 staff.active)
            IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.department_code, EXCLUDED.role,
                 EXCLUDED.capacity, EXCLUDED.phone, EXCLUDED.active)
        RETURNING staff_id
        """,
        member.staff_id, member.name, member.department_code, member.role.value,
        member.capacity, member.phone, member.active,
    )  # fmt: skip
    if row is None:
        return Saved(changed=False)
    now = datetime.now(UTC)
    event_id = await outgoing.staff_saved(conn, member, time=now)
    kept = handback.kept_active(before, role=member.role.value, department=member.department_code)
    if member.active and kept == handback.Kept():
        return Saved(changed=True)
    handed_back = await handback.hand_back_open_calls(
        conn, member.staff_id, roster_event_id=event_id, time=now,
        kept=kept if member.active else None,
    )  # fmt: skip
    return Saved(changed=True, handed_back=handed_back)


async def seed(conn: asyncpg.Connection, members: list[dict[str, Any]]) -> int:
    """Add the seed staff that are not on the roster yet (never overwrites API changes)."""
    added = 0
    for raw in members:
        member = StaffMemberSaved.model_validate(raw)
        exists = await conn.fetchval("SELECT 1 FROM staff WHERE staff_id = $1", member.staff_id)
        if not exists and (await save_member(conn, member)).changed:
            added += 1
    return added


class NotYourDepartment(PermissionError):
    """A supervisor saving a member of (or into) another department."""


class FieldRefused(ValueError):
    """A value the roster does not take; `loc` is where the request has it."""

    def __init__(self, loc: tuple[str, str], message: str) -> None:
        super().__init__(message)
        self.loc = loc


async def save_as(
    conn: asyncpg.Connection, principal: Principal, staff_id: str, fields: dict[str, Any], *,
    expected_version: int | None = None,
) -> tuple[Saved, asyncpg.Record]:  # fmt: skip
    """Save the member `staff_id` with `fields` (`StaffMemberSaved`'s) for `principal`
    (operations; a supervisor within their department, the member's old one too): what it did,
    and the member as saved. A member on the roster is saved by the id they have; an id not on
    it is a new member's, held to the staff id syntax (`hospital_shared.staff_ids`, normalised:
    `Ｓ-０１` is `S-01`); the phone as `roster_phone` takes it. `FieldRefused`, `StaleMember`,
    `NotYourDepartment`: nothing saved."""
    staff_id, current = await find_member(conn, staff_id)
    phone = roster_phone(fields.get("phone"), current)
    member = StaffMemberSaved.model_validate({**fields, "staff_id": staff_id, "phone": phone})
    departments = {member.department_code}
    if current is not None:
        departments.add(current["department_code"])
    if not all(can_manage_staff(principal, d) for d in departments):
        raise NotYourDepartment("a supervisor manages their own department only")
    if StaffRole.ADMIN in (member.role, current and current["role"]) and (
        principal.role is not Role.ADMIN
    ):
        raise NotYourDepartment("only an admin saves an admin (operations) member")
    saved = await save_member(conn, member, expected_version=expected_version)
    row = await get_member(conn, member.staff_id)
    assert row is not None
    return saved, row


def roster_phone(raw: str | None, current: asyncpg.Record | None) -> str | None:
    """A member's phone as the roster stores it: E.164 (`e164`; none when blank), or the one
    they have, kept as it is when sent back unchanged: a number stored before phones were
    checked still lets their edit or deactivation be saved. Anything else that is not a phone
    (`138😀`) is `FieldRefused`."""
    if raw is None or not raw.strip():
        return None
    stored = current["phone"] if current is not None else None
    if stored is not None and raw.strip() in (stored, wire_phone(stored)):
        return str(stored)
    try:
        return e164(raw)
    except NotAPhone as exc:
        raise FieldRefused(("body", "phone"), str(exc)) from None


Read = Callable[[asyncpg.Connection, str], Awaitable[asyncpg.Record | None]]


async def find_member(
    conn: asyncpg.Connection, staff_id: str, read: Read | None = None
) -> tuple[str, asyncpg.Record | None]:
    """The member `staff_id` names, as the roster has them (`read`, `get_member` by default):
    by the id as given, else by it normalised (`staff_ids.find`: `Ｓ－ＡＧＥＮＴ－０１` is
    `S-AGENT-01`); the id they are found by, or would be saved with. `FieldRefused` when it is
    nobody's and cannot be an id, for a look-up as for a save."""
    try:
        return await staff_ids.find(staff_id, partial(read or get_member, conn))
    except staff_ids.NotAStaffId as exc:
        raise FieldRefused(("path", "staff_id"), str(exc)) from None


async def get_member(conn: asyncpg.Connection, staff_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {STAFF_COLUMNS} FROM staff WHERE staff_id = $1", staff_id)


async def made_inactive(conn: asyncpg.Connection, staff_id: str) -> bool:
    """Whether `staff_id` is on the roster as inactive, the row locked (shared) until the
    transaction ends: a deactivation under way (it hands back the member's calls, `handback`)
    finishes first, and one after it waits, so a call taken meanwhile is handed back too. Someone
    not on the roster is not "made inactive": the API serves callers the roster does not list."""
    active = await conn.fetchval("SELECT active FROM staff WHERE staff_id = $1 FOR SHARE", staff_id)
    return active is False


_OPEN_TASKS = (
    "(SELECT count(*) FROM follow_up_tasks t"
    " WHERE t.assignee_id = s.staff_id AND t.status = 'assigned') AS open_tasks"
)


def _containing(text: str | None) -> str | None:
    """A LIKE pattern for `text` anywhere (its % _ \\ taken literally), None for no search."""
    if not text:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_members(
    conn: asyncpg.Connection,
    department: str | None,
    *,
    after: str | None = None,
    limit: int | None = None,
    search: str | None = None,
) -> list[asyncpg.Record]:
    """The roster (of `department`, or all) by staff id, those after `after`, `limit` at most;
    with `search`, those whose id or name holds it (any case)."""
    return await conn.fetch(
        f"SELECT {STAFF_COLUMNS}, {_OPEN_TASKS}"
        f" FROM staff s WHERE ($1::text IS NULL OR department_code = $1)"
        f" AND ($2::text IS NULL OR staff_id > $2)"
        f" AND ($4::text IS NULL OR staff_id ILIKE $4 OR name ILIKE $4)"
        f" ORDER BY staff_id LIMIT $3",
        department, after, limit, _containing(search),
    )  # fmt: skip


async def directory(
    conn: asyncpg.Connection, *, search: str | None, limit: int
) -> list[asyncpg.Record]:
    """Active members by name (then id), those whose id or name holds `search` (any case):
    who a member of staff may name (a colleague praised, one to hand work to)."""
    return await conn.fetch(
        "SELECT staff_id, name, department_code, role FROM staff WHERE active"
        " AND ($1::text IS NULL OR staff_id ILIKE $1 OR name ILIKE $1)"
        " ORDER BY name, staff_id LIMIT $2",
        _containing(search), limit,
    )  # fmt: skip


async def named(conn: asyncpg.Connection, staff_ids: list[str]) -> list[asyncpg.Record]:
    """The members with these ids, active or not, by id (unknown ids: none)."""
    return await conn.fetch(
        "SELECT staff_id, name, department_code, role FROM staff"
        " WHERE staff_id = ANY($1::text[]) ORDER BY staff_id",
        staff_ids,
    )


async def member_with_tasks(conn: asyncpg.Connection, staff_id: str) -> asyncpg.Record | None:
    """One member as the list shows them (with their open follow-up tasks), None if unknown."""
    return await conn.fetchrow(
        f"SELECT {STAFF_COLUMNS}, {_OPEN_TASKS} FROM staff s WHERE staff_id = $1", staff_id
    )


async def active_staff(conn: asyncpg.Connection) -> list[StaffMember]:
    rows = await conn.fetch(
        "SELECT staff_id, department_code, role, capacity, active FROM staff WHERE active"
    )
    return [StaffMember(**dict(r)) for r in rows]


async def open_loads(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT assignee_id, count(*) AS n FROM follow_up_tasks"
        " WHERE status = 'assigned' GROUP BY assignee_id"
    )
    return {r["assignee_id"]: r["n"] for r in rows}
