"""The SMS templates' screen (短信模板): the texts the notifications service sends patients and
staff, which supervisors and operations edited by hand-made `PUT /v1/templates/{name}` calls.
Staff may read them (`GET /v1/templates`); supervisors and operations (admin) edit a text, and
send_to_deceased, through that same PUT with their token. Whether a template is urgent is
operations' call and never a patient template's (notifications' `urgency_refusal`), so its box
is shown to operations on staff templates only; otherwise the form leaves `urgent` out.

The service decides what is valid (a placeholder it has no sample value for, a text longer
than the gateway's SMS once rendered): its refusal is shown beside the field, the text typed
kept (that answer is the POST's own page, a 4xx). A save redirects to the template's page
(`?edit=<name>&saved=1`, POST-redirect-GET: a reload asks again, it does not post the text
again), which shows the saved message with the text rendered with the sample values of what its
sender fills and its SMS parts (notifications' `GET /v1/templates/{name}`). The placeholders
beside the text are that template's own: those its sender fills (notifications' `GIVEN`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.backend import Backend, Problem, Refused, first_reason, segment
from console.inbox import PageSession
from console.pages import render
from console.session import CheckedForm, CurrentSession, Session
from hospital_shared.http_guard import GuardedRoute

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)
FIELDS = ("body", "urgent", "send_to_deceased")
EDITORS = ("supervisor", "admin")
REASON = "短信模板维护"


def may_edit(session: Session) -> bool:
    return session.has_role(*EDITORS)


def may_set_urgent(session: Session, template: dict[str, Any]) -> bool:
    """Operations on a staff template: a patient template is never urgent, and whether a
    staff message may wake someone up is not a supervisor's call."""
    return session.has_role("admin") and template["audience"] == "staff"


def typed_of(template: dict[str, Any]) -> dict[str, str]:
    """A template as the edit form shows it."""
    return {
        "name": template["name"], "body": template["body"],
        "urgent": "on" if template["urgent"] else "",
        "send_to_deceased": "on" if template["send_to_deceased"] else "",
    }  # fmt: skip


def template_body(typed: dict[str, str], template: dict[str, Any], session: Session) -> Any:
    """The form as notifications' `TemplateIn`: `urgent` only when its box was shown."""
    body: dict[str, Any] = {
        "body": typed["body"],
        "send_to_deceased": typed["send_to_deceased"] == "on",
    }
    if may_set_urgent(session, template):
        body["urgent"] = typed["urgent"] == "on"
    return body


async def _templates(request: Request, session: Session) -> list[dict[str, Any]]:
    api: Backend = request.app.state.backend
    found = await api.get(session, "notifications", "/v1/templates", params={"limit": 200})
    return list(found["items"])


async def _page(
    request: Request, session: Session, templates: list[dict[str, Any]], editing: str,
    status: int = 200, **more: Any,
) -> HTMLResponse:  # fmt: skip
    template = next((t for t in templates if t["name"] == editing), None)
    if template is not None and "typed" not in more:
        more["typed"] = typed_of(template)
    return render(
        request, "sms_templates/page.html", status, templates=templates, current=template,
        may_edit=may_edit(session),
        may_set_urgent=template is not None and may_set_urgent(session, template),
        errors=more.pop("errors", {}), **more,
    )  # fmt: skip


async def _previewed(request: Request, session: Session, name: str) -> dict[str, Any] | None:
    """Template `name` with its preview and SMS parts (notifications renders them), None when
    there is no such template."""
    api: Backend = request.app.state.backend
    found: dict[str, Any] | None = await api.find(
        session, "notifications", f"/v1/templates/{segment(name)}"
    )
    return found


@router.get("/templates")
async def templates_page(
    request: Request, session: PageSession, edit: str = "", saved: str = ""
) -> HTMLResponse:
    """The templates; with `edit`, that one's form above them (for those who may edit), and
    with `saved=1` (where a save redirects) the saved message and its preview."""
    templates = await _templates(request, session)
    editing = edit if may_edit(session) else ""
    shown = await _previewed(request, session, editing) if editing and saved == "1" else None
    return await _page(request, session, templates, editing, saved=shown)


def _typed(form: Any) -> dict[str, str]:
    typed = {name: str(form.get(name) or "") for name in ("name", *FIELDS)}
    # A textarea sends its lines with CRLF; the service keeps and sends what it is given.
    return typed | {"name": typed["name"].strip(), "body": typed["body"].replace("\r\n", "\n")}


@router.post("/templates")
async def save_template(request: Request, session: CurrentSession, form: CheckedForm) -> Response:
    """Save one template's text and flags; to its page saying so (with the preview), or the
    form again as typed with the service's reason beside its field."""
    if not may_edit(session):
        raise Refused("SMS templates are edited by supervisors and operations")
    typed = _typed(form)
    templates = await _templates(request, session)
    template = next((t for t in templates if t["name"] == typed["name"]), None)
    if template is None:
        return await _page(request, session, templates, "", 404,
                           message=f"no such template: {typed['name']}")  # fmt: skip
    api: Backend = request.app.state.backend
    try:
        saved = await api.call(session, "notifications", "PUT", f"/v1/templates/{segment(template['name'])}",
                               json=template_body(typed, template, session), reason=REASON)  # fmt: skip
    except (Refused, Problem) as exc:
        if isinstance(exc, Refused):
            return await _page(request, session, templates, typed["name"], 403,
                               typed=typed, message=exc.reason)  # fmt: skip
        errors = {f: m for f, m in exc.fields.items() if f in FIELDS}
        return await _page(request, session, templates, typed["name"], exc.status, typed=typed,
                           errors=errors, message="" if errors else first_reason(exc))  # fmt: skip
    return RedirectResponse(f"/templates?edit={quote(saved['name'])}&saved=1#tpl-saved",
                            status_code=303)  # fmt: skip
