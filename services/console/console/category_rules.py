"""The complaint category rules' screen (投诉分类规则): the keywords by which the complaints
service files a complaint under a category, and marks it serious (sent to a supervisor at
once), which supervisors and operations changed with hand-made `/v1/category-rules` calls.

Staff may read them (`GET /v1/category-rules`, in the order they are tried: the first enabled
rule whose keyword occurs in the text decides the category); supervisors and operations (the
service's `RuleEditor`) add one (`POST`), change one, switch it off or on, or move it before
or after its neighbour (`PATCH /v1/category-rules/{id}`) with their token. The service decides
what is valid: its refusal is shown beside the field it names, what was typed kept. A save
redirects to the list (`?saved=<id>#rule-<id>`, POST-redirect-GET).

The service's POST replaces a rule of the same category and keyword (an upsert), so adding
one that exists is refused here, naming the rule to change instead.

Others may change the rules while a page is open. A move sends the whole new order
(`rule_order.moved`) with the `version` of the list the page showed (`PUT
/v1/category-rules/order`: one transaction); a list changed meanwhile is shown as it now is,
saying nothing was moved. The edit form sends only the fields the person changed (the values
it was loaded with ride along as `was_<field>`), so a colleague's change to another field
(switched off, moved) is kept, not put back: an order is made from the whole list, a rule's
field from itself."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.backend import NotFound, Problem, Refused, backend_of, segment
from console.inbox import PageSession
from console.pages import render
from console.refusals import Reason
from console.rule_order import moved
from console.session import CheckedForm, CurrentSession, Session
from console.wording import translate
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.vocabulary import ComplaintCategory

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)
FIELDS = ("keyword", "category", "serious", "position", "enabled", "note")
EDITORS = ("supervisor", "admin")  # complaints' `RuleEditor`
ACTIONS = ("enable", "disable", "up", "down")
REASON = "投诉分类规则维护"
WHOLE = re.compile(r"-?[0-9]{1,9}")  # else sent as typed: the service names it not a number


def may_edit(session: Session) -> bool:
    return session.has_role(*EDITORS)


@dataclass(frozen=True)
class Rules:
    """The rules in the order they are tried, and the `version` of that list (what a move
    names: the service refuses it when the list changed since)."""

    rules: list[dict[str, Any]]
    version: str


async def _rules(request: Request, session: Session) -> Rules:
    found = await backend_of(request).get(session, "complaints", "/v1/category-rules")
    return Rules(list(found["rules"]), str(found["version"]))


def typed_of(rule: dict[str, Any] | None) -> dict[str, str]:
    """A rule as the form shows it; a new one enabled, not serious, placed last."""
    if rule is None:
        return {"id": "", "keyword": "", "category": "", "serious": "", "position": "",
                "enabled": "on", "note": ""}  # fmt: skip
    shown = {
        "keyword": rule["keyword"], "category": rule["category"],
        "serious": "on" if rule["serious"] else "", "position": str(rule["position"]),
        "enabled": "on" if rule["enabled"] else "", "note": rule["note"] or "",
    }  # fmt: skip
    return {"id": str(rule["id"]), **shown, **{f"was_{k}": v for k, v in shown.items()}}


def _own(key: str, **values: Any) -> Reason:
    en, zh = (translate(key, lang).format(**values) for lang in ("en", "zh"))
    return Reason(en, zh)


def rule_body(
    typed: dict[str, str], rules: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The form as the service's `RuleIn` (a new rule) or `RulePatch`, and the errors found
    before sending it: no category chosen, a new rule of a category and keyword another rule
    has already (the service would replace that one). A position left blank puts a new rule last and leaves an
    existing one where it is; one that is no number is the service's to refuse. Of an
    existing rule, only the fields changed from what the form was loaded with (`was_<field>`)
    are sent: the others may have been changed by someone else since."""
    body: dict[str, Any] = {
        "keyword": typed["keyword"], "category": typed["category"],
        "serious": typed["serious"] == "on", "enabled": typed["enabled"] == "on",
        "note": typed["note"] or None,
    }  # fmt: skip
    position = typed["position"].strip()
    if position:
        body["position"] = int(position) if WHOLE.fullmatch(position) else position
    elif not typed["id"]:
        body["position"] = max((r["position"] for r in rules), default=0) + 10
    same = next((r for r in rules if r["category"] == typed["category"]
                 and r["keyword"] == typed["keyword"].strip() and str(r["id"]) != typed["id"]), None)  # fmt: skip
    if typed["id"]:
        body = {k: v for k, v in body.items() if typed[k].strip() != typed[f"was_{k}"].strip()}
    if not typed["category"]:  # the service's word for it lists every category's code
        return body, {"category": "required"}
    if same is not None and not typed["id"]:
        return body, {"keyword": _own("rules.error.duplicate", id=same["id"])}
    return body, {}


async def _page(
    request: Request, session: Session, listed: Rules | None = None,
    status: int = 200, **more: Any,
) -> HTMLResponse:  # fmt: skip
    listed = listed if listed is not None else await _rules(request, session)
    return render(
        request, "category_rules/page.html", status, rules=listed.rules, version=listed.version,
        may_edit=may_edit(session),
        categories=list(ComplaintCategory), errors=more.pop("errors", {}), **more,
    )  # fmt: skip


@router.get("/category-rules")
async def rules_page(
    request: Request, session: PageSession, edit: str = "", saved: str = ""
) -> HTMLResponse:
    """The rules in the order they are tried; with `edit` (a rule's id, or `new`), the form
    for it (for those who may edit); with `saved` (where a save redirects) that rule marked."""
    listed = await _rules(request, session)
    rules = listed.rules
    more: dict[str, Any] = {"saved": next((r for r in rules if str(r["id"]) == saved), None)}
    if may_edit(session) and (edit == "new" or any(str(r["id"]) == edit for r in rules)):
        more["typed"] = typed_of(next((r for r in rules if str(r["id"]) == edit), None))
    return await _page(request, session, listed, **more)


def _typed(form: Any) -> dict[str, str]:
    names = ("id", *FIELDS, *(f"was_{f}" for f in FIELDS))
    typed = {name: str(form.get(name) or "") for name in names}
    return typed | {"id": typed["id"].strip(), "note": typed["note"].strip()}


@router.post("/category-rules")
async def save_rule(request: Request, session: CurrentSession, form: CheckedForm) -> Response:
    """Add a rule, or change the one `id` names; to the list with it marked, or the form
    again as typed with the service's (or the console's) reason beside its field."""
    if not may_edit(session):
        raise Refused("category rules are kept by supervisors and operations")
    typed = _typed(form)
    listed = await _rules(request, session)
    if typed["id"] and not any(str(r["id"]) == typed["id"] for r in listed.rules):
        raise NotFound(f"no rule {typed['id'][:20]}")
    body, errors = rule_body(typed, listed.rules)
    if errors:
        return await _page(request, session, listed, 422, typed=typed, errors=errors)
    method, path = (
        ("PATCH", f"/v1/category-rules/{segment(typed['id'])}")
        if typed["id"]
        else ("POST", "/v1/category-rules")
    )
    try:
        saved = await backend_of(request).call(session, "complaints", method, path, json=body,
                                              reason=REASON)  # fmt: skip
    except Refused as exc:
        return await _page(request, session, listed, 403, typed=typed, message=exc.reason)
    except Problem as exc:
        errors = {f: m for f, m in exc.fields.items() if f in FIELDS}
        if exc.status == 409:  # another rule has this category and keyword
            errors = {"keyword": exc.message}
        return await _page(request, session, listed, exc.status, typed=typed, errors=errors,
                           message="" if errors else exc.message)  # fmt: skip
    return RedirectResponse(
        f"/category-rules?saved={saved['id']}#rule-{saved['id']}", status_code=303
    )


@router.post("/category-rules/{rule_id}")
async def change_rule(
    request: Request, session: CurrentSession, form: CheckedForm, rule_id: int
) -> Response:
    """`do=enable|disable`: switch the rule on or off; `do=up|down`: try it before or after
    its neighbour. To the list with it marked."""
    if not may_edit(session):
        raise Refused("category rules are kept by supervisors and operations")
    action = str(form.get("do") or "")
    listed = await _rules(request, session)
    if action not in ACTIONS or not any(r["id"] == rule_id for r in listed.rules):
        raise NotFound(f"no rule {rule_id} or no such change")
    if action in ("enable", "disable"):
        await backend_of(request).call(session, "complaints", "PATCH",
                                     f"/v1/category-rules/{rule_id}", json={"enabled": action == "enable"},
                                     reason=REASON)  # fmt: skip
    elif not await _moved(request, session, listed, rule_id, action, str(form.get("version"))):
        return await _page(request, session, status=409, stale=True)
    return RedirectResponse(f"/category-rules?saved={rule_id}#rule-{rule_id}", status_code=303)


async def _moved(
    request: Request, session: Session, rules: Rules, rule_id: int, action: str, version: str
) -> bool:
    """Move the rule one place in the list the page showed (`version`); False when the rules
    changed since (the console saw it, or the service refused the order)."""
    if version != rules.version:
        return False
    order = moved(rules.rules, rule_id, -1 if action == "up" else 1)
    if not order:
        return True
    try:
        await backend_of(request).call(session, "complaints", "PUT", "/v1/category-rules/order",
                                     json={"ids": order, "version": version}, reason=REASON)  # fmt: skip
    except Problem as exc:
        if exc.status != 409:
            raise
        return False
    return True
