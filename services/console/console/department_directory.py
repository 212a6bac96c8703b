"""The department directory's screen (科室, under 设置; operations only, as follow-up lets only
them save): every department's code, Chinese and English names and state (`GET
/v1/departments`); `?edit=<code>` or `new`: a form to add or rename one (`PUT
/v1/departments/{code}` with the person's token, carrying the version the form was loaded with,
0 for a new one), CSRF-checked, post/redirect/get (`?saved=<code>`). The service decides what is
valid: its refusal (a code that is not one, a blank name, a code taken, a department renamed by
someone else meanwhile) is shown beside the field it names, in Chinese (`refusals.json`), what
was typed kept. A save makes every page ask for the names again (`departments.forget`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console import departments
from console.backend import Problem, Refused, backend_of, segment
from console.inbox import PageSession
from console.pages import render
from console.session import CheckedForm, CurrentSession, Session
from hospital_shared.http_guard import GuardedRoute

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)
FIELDS = ("code", "name_zh", "name_en", "active")
KEEPERS = ("admin",)  # follow-up's `PUT /v1/departments/{code}`


def _may_keep(session: Session) -> None:
    if not session.has_role(*KEEPERS):
        raise Refused("the department directory is kept by operations")


async def _listed(request: Request, session: Session) -> list[dict[str, Any]]:
    found = await backend_of(request).get(session, "followup", "/v1/departments")
    listed: list[dict[str, Any]] = found["items"]
    return listed


def typed_of(entry: dict[str, Any] | None) -> dict[str, str]:
    """A department as the form shows it; a new one active, version 0."""
    if entry is None:
        return {"code": "", "name_zh": "", "name_en": "", "active": "on", "version": "0"}
    return {
        "code": entry["code"], "name_zh": entry["name_zh"], "name_en": entry["name_en"] or "",
        "active": "on" if entry["active"] else "", "version": str(entry["version"]),
    }  # fmt: skip


def _page(
    request: Request, listed: list[dict[str, Any]], status: int = 200, **more: Any
) -> HTMLResponse:
    return render(
        request, "departments/page.html", status, listed=listed,
        errors=more.pop("errors", {}), **more,
    )  # fmt: skip


@router.get("/departments")
async def departments_page(
    request: Request, session: PageSession, edit: str = "", saved: str = ""
) -> HTMLResponse:
    """The directory by code; with `edit` (a code, or `new`) the form for it; with `saved`
    (where a save redirects) that department marked."""
    _may_keep(session)
    listed = await _listed(request, session)
    found = {d["code"]: d for d in listed}
    more: dict[str, Any] = {"saved": found.get(saved)}
    if edit == "new" or edit in found:
        more["typed"] = typed_of(found.get(edit))
    return _page(request, listed, **more)


def _typed(form: Any) -> dict[str, str]:
    typed = {name: str(form.get(name) or "").strip() for name in (*FIELDS, "version", "new")}
    return typed


@router.post("/departments")
async def save_department(request: Request, session: CurrentSession, form: CheckedForm) -> Response:
    """Add a department, or rename the one `code` names: to the list with it marked, or the
    form again as typed with the service's reason beside its field."""
    _may_keep(session)
    typed = _typed(form)
    body = {
        "name_zh": typed["name_zh"], "name_en": typed["name_en"] or None,
        "active": typed["active"] == "on",
        "expected_version": int(typed["version"]) if typed["version"].isdigit() else 0,
    }  # fmt: skip
    if not typed["code"]:
        listed = await _listed(request, session)
        return _page(request, listed, 422, typed=typed, errors={"code": "required"})
    try:
        saved = await backend_of(request).call(
            session, "followup", "PUT", f"/v1/departments/{segment(typed['code'])}", json=body
        )
    except Problem as exc:
        errors = {f: m for f, m in exc.fields.items() if f in FIELDS}
        if exc.status == 409 and typed["new"]:  # the code is taken
            errors = {"code": exc.message}
        listed = await _listed(request, session)
        if exc.status == 409 and not typed["new"]:  # renamed meanwhile: saving again replaces
            now = next((d for d in listed if d["code"] == typed["code"]), None)
            typed["version"] = str(now["version"]) if now else typed["version"]
        return _page(request, listed, exc.status, typed=typed, errors=errors,
                     message="" if errors else exc.message)  # fmt: skip
    departments.cache_of(request).forget()
    code = saved["department"]["code"]
    return RedirectResponse(f"/departments?saved={segment(code)}#dept-{code}", status_code=303)
