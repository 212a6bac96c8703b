"""The department directory: the name staff know each department by (心内科 / Cardiology) for
the code the hospital's systems send (`CARD`). Kept here, beside the roster that places staff
in departments; the console labels every department code it shows with it. Operations add and
rename departments; nothing is deleted (old calls and cases still name a department made
inactive)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg

from followup.roster import stale_text
from hospital_shared import department_codes

COLUMNS = "code, name_zh, name_en, active, updated_at, version"


@dataclass(frozen=True)
class Department:
    """A department's entry as a save gives it (names stripped; no English name: None)."""

    code: str
    name_zh: str
    name_en: str | None = None
    active: bool = True


class StaleDepartment(Exception):
    """A save that carried the version it read (`expected_version`) when the department is at
    another now: 0, an add, for a code already in the directory, or an edit of a department
    saved since (two tabs). Nothing is saved; `current_version` is its version now (0: not in
    the directory)."""

    def __init__(self, code: str, *, expected: int, current: int) -> None:
        super().__init__(
            stale_text(f"department {code}", "in the directory", expected=expected, current=current)
        )
        self.current_version = current


_INSERT = "INSERT INTO departments (code, name_zh, name_en, active) VALUES ($1, $2, $3, $4)"
_ADD = f"{_INSERT} ON CONFLICT (code) DO NOTHING RETURNING true"
_SAVE = f"""{_INSERT}
    ON CONFLICT (code) DO UPDATE SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en,
        active = EXCLUDED.active, updated_at = now(), version = departments.version + 1
      WHERE (departments.name_zh, departments.name_en, departments.active)
        IS DISTINCT FROM (EXCLUDED.name_zh, EXCLUDED.name_en, EXCLUDED.active)
    RETURNING true"""


class CodeRefused(ValueError):
    """A new department's code that is not one (`hospital_shared.department_codes`)."""


async def get(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM departments WHERE code = $1", code)


async def list_all(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every department, inactive ones too (old calls and cases still name them), by code."""
    return await conn.fetch(f"SELECT {COLUMNS} FROM departments ORDER BY code")


async def save(
    conn: asyncpg.Connection, department: Department, *, expected_version: int | None = None
) -> tuple[bool, asyncpg.Record]:
    """Add or change `department` (raising its version when something changed): whether it
    changed, and the row as saved. The code is held to the code syntax, normalised
    (`CodeRefused`); with `expected_version`, only a department still at it (0: not in the
    directory) is saved (`StaleDepartment`). The row is locked to the commit, so two saves of
    one department see each other's change."""
    try:
        code = department_codes.department_code(department.code)
    except department_codes.NotADepartmentCode as exc:
        raise CodeRefused(str(exc)) from None
    version = await conn.fetchval(
        "SELECT version FROM departments WHERE code = $1 FOR UPDATE", code
    )
    if expected_version is not None and expected_version != (version or 0):
        raise StaleDepartment(code, expected=expected_version, current=version or 0)
    # An add (0) inserts only: one added meanwhile by another save (no row to lock before)
    # is refused, not overwritten.
    sql = _ADD if expected_version == 0 else _SAVE
    changed = await conn.fetchval(
        sql, code, department.name_zh, department.name_en, department.active
    )
    row = await get(conn, code)
    assert row is not None
    if expected_version == 0 and not changed:
        raise StaleDepartment(code, expected=0, current=row["version"])
    return bool(changed), row


_LEARN = """
INSERT INTO departments (code, name_zh)
SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (code) DO NOTHING
"""


class Learner:
    """The names the hospital's systems send with each visit and discharge (`Department`'s
    code and name), added to the directory for the codes it does not have: the console names
    a department from its first patient, with nobody typing it in. Never a change: a code in
    the directory keeps the name it has (operations' rename stays). A code that is not one a
    save would take (`hospital_shared.department_codes`, as sent) is left out: the pages show
    it as it is. The codes handled are remembered by this process, so a batch whose codes are
    all known costs nothing (one whose transaction is rolled back leaves its codes unlearned
    until the next start: a name only)."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        """`known`: codes never learnt (the seed's, which the seed names: an event read
        before the seed ran, on a new database with a backlog, must not name them first)."""
        self.seen: set[str] = set(known)

    async def learn(self, conn: asyncpg.Connection, named: dict[str, str]) -> None:
        """`named`: code -> name, from the batch's events."""
        new = {c: n for c, n in named.items() if c not in self.seen}
        if not new:
            return
        self.seen.update(new)
        fit = {c: n for c, n in new.items() if _as_sent(c) and n.strip()}
        if fit:
            await conn.execute(_LEARN, list(fit), [n.strip() for n in fit.values()])


def _as_sent(code: str) -> bool:
    """Whether `code` is a department code as the systems send it (normalising changes
    nothing: the console looks the code up as the events give it)."""
    try:
        return department_codes.department_code(code) == code
    except department_codes.NotADepartmentCode:
        return False


async def seed(conn: asyncpg.Connection, entries: list[dict[str, Any]]) -> int:
    """Add the seed departments not in the directory yet (never overwrites a rename)."""
    added = 0
    for raw in entries:
        if await get(conn, raw["code"]) is None:
            try:
                await save(conn, Department(**raw), expected_version=0)
            except StaleDepartment:  # another instance, starting at once, added it
                continue
            added += 1
    return added
