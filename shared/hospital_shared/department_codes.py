"""The syntax of a department code, as the department directory checks a new one.

A code is what the hospital's systems send with a visit (`CARD`, `GSURG`), and it goes into
URLs (`/v1/departments/{code}`, `/v1/policy/{code}`), filters and people's screens, where
staff type and read it. Checked as a new staff id is (`staff_ids`): NFKC-normalised first
(full-width `ＣＡＲＤ` typed by an input method is `CARD`), then visible ASCII letters, digits
and `-` `_` only, 1 to 32 of them (the roster's longest department code), starting with a
letter or digit: a zero-width space, a space or a `/` made a second department that looked
like the first, or one no path could name. The case is kept: the code must be the one the
hospital's systems send, and they are compared as sent.
"""

from __future__ import annotations

import re

from hospital_shared.staff_ids import typed_as

_SYNTAX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
RULE = "letters A-Z a-z, digits 0-9 and - _ only, starting with a letter or digit (1 to 32)"


class NotADepartmentCode(ValueError):
    """Text that is not a department code the directory may add."""


def department_code(raw: str) -> str:
    """`raw` as a department code: NFKC-normalised and stripped, then checked
    (`NotADepartmentCode` when it does not fit)."""
    text = typed_as(raw, _SYNTAX)
    if text is None:
        raise NotADepartmentCode(f"a department code is {RULE}")
    return text
