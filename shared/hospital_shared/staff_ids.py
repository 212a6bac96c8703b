"""The syntax of a staff id, as every roster that adds a member checks it.

A staff id goes into URLs (`/v1/staff/{id}`), event ids (`staff:<id>:...`), log lines and the
console's lists, and people type and read it. The roster took any text: `S-AGENT-01` followed
by a zero-width space, a full-width `Ｓ-ＮＥＷ-０１`, `S NEW 01` and `..` were all members,
each looking like (or being read as) another id, and an id with `/` could not be looked up at
all (its path was another route's). So a new id is NFKC-normalised first (full-width letters
and digits become ASCII, as an input method types them) and must then be visible ASCII
letters, digits and `-` `_` `.` only, 1 to 64 of them, and not dots alone (`.`, `..`: a step
in a path).

Members added before this rule keep their ids: the roster reads and edits them by the id they
have (`followup.roster`); only an id not on the roster yet is held to it. A look-up finds a
member the way a save does (`find`): `Ｓ－ＡＧＥＮＴ－０１` typed into a form, or ` S-AGENT-01 `, is
`S-AGENT-01`, who was not found before because only saves normalised.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable
from typing import TypeVar

_SYNTAX = re.compile(r"[A-Za-z0-9._-]{1,64}")
RULE = "letters A-Z a-z, digits 0-9 and - _ . only (1 to 64, not dots alone)"


T = TypeVar("T")


class NotAStaffId(ValueError):
    """Text that is not a staff id a roster may add."""


def typed_as(raw: str, syntax: re.Pattern[str]) -> str | None:
    """`raw` NFKC-normalised and stripped (full-width `Ｓ-０１` is `S-01`), when all of it then
    fits `syntax`; else None. How an id people type is checked (a department code too)."""
    text = unicodedata.normalize("NFKC", raw).strip()
    return text if syntax.fullmatch(text) else None


def staff_id(raw: str) -> str:
    """`raw` as a new member's staff id: NFKC-normalised and stripped, then checked
    (`NotAStaffId` when it does not fit)."""
    text = typed_as(raw, _SYNTAX)
    if text is None or not text.strip("."):
        raise NotAStaffId(f"a staff id is {RULE}")
    return text


async def find(raw: str, read: Callable[[str], Awaitable[T | None]]) -> tuple[str, T | None]:
    """The member `raw` names, as a roster's save finds them: `read` by the id as given (a
    member added before the syntax keeps theirs), else by it normalised (`staff_id`). The id
    they were found by (or the normalised one) and what `read` gave; `NotAStaffId` when the id
    as given is nobody's and cannot be normalised, as a save refuses it."""
    found = await read(raw)
    if found is not None:
        return raw, found
    normalised = staff_id(raw)
    return normalised, (await read(normalised) if normalised != raw else None)


def seeded(raw: object, setting: str) -> str:
    """A seeded member's id from the setting `setting` (`FOLLOWUP_SEED_STAFF`), as a save makes
    it: the roster would otherwise start with a member no save could add, and a look-up could
    not name. A `ValueError` naming the setting and the id stops the settings' load."""
    try:
        return staff_id(raw) if isinstance(raw, str) else staff_id("")
    except NotAStaffId as exc:
        raise ValueError(f"{setting}: {raw!r} is not a staff id ({exc})") from None
