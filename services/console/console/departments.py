"""Department names for the codes the pages show (`CARD` is 心内科, or Cardiology in English):
the follow-up service's department directory (`GET /v1/departments`, any member of staff may
read it), read with the person's token at most once a minute per console process and kept for
every page: the names change when operations rename a department (this console's own
`/departments` screen forgets what it read at once; another instance's rename shows within the
minute).

A page never fails for it: when follow-up does not answer or refuses, the page shows what was
read before, or the codes themselves, and asks again after `RETRY_S`. A code the directory
does not know is shown as it is; an inactive department is still named (old calls and cases
name it) but not offered on forms."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from jinja2 import pass_context
from jinja2.runtime import Context

from console.backend import Backend, NotFound, Problem, Refused, Unavailable
from console.session import Session, SignInRequired
from console.wording import translate

CACHE_S = 60.0
UNKNOWN = "unknown"  # the department metrics counts an event under when none is known
RETRY_S = 10.0  # after follow-up did not answer: each page does not wait on it again
Directory = dict[str, dict[str, Any]]  # code -> the directory's entry


@dataclass
class DepartmentNames:
    """The directory's last answer and when it was asked for (this process's monotonic clock)."""

    ttl_s: float = CACHE_S
    retry_s: float = RETRY_S
    clock: Callable[[], float] = time.monotonic
    by_code: Directory = field(default_factory=dict)
    asked_at: float | None = None
    answered: bool = False

    def due(self) -> bool:
        if self.asked_at is None:
            return True
        return self.clock() - self.asked_at >= (self.ttl_s if self.answered else self.retry_s)

    async def read(self, backend: Backend, session: Session) -> Directory:
        """The names, asked of follow-up when what was read is a minute old (never raising)."""
        if not self.due():
            return self.by_code
        self.asked_at = self.clock()
        try:
            answer = await backend.get(session, "followup", "/v1/departments")
        except (Unavailable, Refused, NotFound, Problem, SignInRequired):
            self.answered = False
            return self.by_code
        self.by_code = {d["code"]: d for d in answer["items"]}
        self.answered = True
        return self.by_code

    def forget(self) -> None:
        """Ask again at the next page (after a rename here)."""
        self.asked_at = None


def cache_of(request: Request) -> DepartmentNames:
    cache: DepartmentNames = request.app.state.departments
    return cache


async def read(request: Request, session: Session) -> Directory:
    """The directory for this page (at most a minute old), or what was read before."""
    return await cache_of(request).read(request.app.state.backend, session)


def name_of(directory: Directory, code: object, lang: str) -> str:
    """`code` as its department's name in `lang` (zh, else en falling back to zh); the code
    itself when the directory does not know it; blank for none."""
    if code in (None, ""):
        return ""
    entry = directory.get(str(code))
    if entry is None:  # metrics' "unknown": a visit whose department was never learnt
        return translate("dept.unknown", lang) if code == UNKNOWN else str(code)
    name = entry.get("name_en") if lang == "en" else None
    return str(name or entry.get("name_zh") or code)


def offered(directory: Directory, lang: str, also: str | None = None) -> list[tuple[str, str]]:
    """(code, name) of the active departments a form's choice offers, by code (what the
    hospital's systems and staff type; Chinese names have no order a list could use); `also`
    (the code chosen or typed before, known or not) kept among them."""
    codes = {c for c, d in directory.items() if d.get("active", True)}
    if also:
        codes.add(also)
    return [(c, name_of(directory, c, lang)) for c in sorted(codes)]


@pass_context
def dept(context: Context, code: object) -> str:
    """The templates' `dept(code)`: the name in the page's language (render puts the
    directory in every page's context as `department_names`)."""
    return name_of(context.get("department_names") or {}, code, context.get("lang") or "zh")


@pass_context
def dept_options(context: Context, also: str | None = None) -> list[tuple[str, str]]:
    """The templates' `dept_options(chosen)`: `offered` in the page's language."""
    return offered(context.get("department_names") or {}, context.get("lang") or "zh", also)
