"""HTTP routes for the hospital's classification rules: read, add, change, try out; and the
categories the installation files under, per kind (the console's forms offer these)."""

import asyncpg
from fastapi import APIRouter, HTTPException, status

from complaints import rulebook
from complaints.classifier import classify
from complaints.feedback import OTHER
from complaints.http_deps import (
    CONFLICT,
    CaseReader,
    Ctx,
    ECtx,
    Responses,
    RuleEditor,
    StaffOrOperations,
    actor_of,
)
from complaints.responses import Categories, RuleOut, Rules, Verdict
from complaints.views import ClassifyIn, RuleIn, RuleOrder, RulePatch
from hospital_shared.http_api import Conn
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.vocabulary import ComplaintCategory

STALE_DETAIL = "the rules changed since this list was read: read them again"
STALE: Responses = {409: {"description": STALE_DETAIL}}
router = APIRouter(prefix="/v1", tags=["classification rules"], route_class=GuardedRoute)


@router.get("/category-rules", response_model=Rules)
async def list_rules(conn: Conn, _: StaffOrOperations) -> Rules:
    """Every rule in the order they are tried (a short, bounded list: not paged), and the
    list's `version` (what a reorder names)."""
    return _rules(await rulebook.category_rule_rows(conn))


def _rules(rows: list[rulebook.Row]) -> Rules:
    return Rules.model_validate({"rules": rows, "version": rulebook.list_version(rows)})


@router.put("/category-rules/order", response_model=Rules, responses=STALE)
async def reorder_rules(body: RuleOrder, conn: Conn, ctx: Ctx, principal: RuleEditor) -> Rules:
    """Try the rules in the order `ids` gives (numbered in tens), all at once: new complaints
    are classified by the old order or the new one, never a mix. A 409 when the rules changed
    since the list `version` was read (someone else edited or moved one): read them again."""
    try:
        rows = await rulebook.reorder_rules(
            conn, body.ids, version=body.version, by=actor_of(principal).id
        )
    except rulebook.StaleOrder:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=STALE_DETAIL) from None
    except rulebook.NotTheRules as exc:
        detail = [{"loc": ["body", "ids"], "msg": str(exc), "type": "value_error"}]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail) from None
    ctx.rulebook.invalidate()
    return _rules(rows)


@router.post("/category-rules", status_code=status.HTTP_201_CREATED, response_model=RuleOut)
async def save_rule(body: RuleIn, conn: Conn, ctx: Ctx, principal: RuleEditor) -> RuleOut:
    row = await rulebook.upsert_rule(conn, body.model_dump(mode="json"), by=actor_of(principal).id)
    ctx.rulebook.invalidate()
    return RuleOut.model_validate(row)


@router.patch("/category-rules/{rule_id}", response_model=RuleOut, responses=CONFLICT)
async def change_rule(
    rule_id: int, body: RulePatch, conn: Conn, ctx: Ctx, principal: RuleEditor
) -> RuleOut:
    changes = body.model_dump(mode="json", exclude_unset=True)
    try:
        row = await rulebook.update_rule(conn, rule_id, changes, by=actor_of(principal).id)
    except asyncpg.UniqueViolationError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail="another rule has this category and keyword"
        ) from None
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no rule {rule_id}")
    ctx.rulebook.invalidate()
    return RuleOut.model_validate(row)


@router.post("/classify", response_model=Verdict)
async def try_classification(
    body: ClassifyIn, conn: Conn, ctx: Ctx, _: StaffOrOperations
) -> Verdict:
    """What the rules make of a text, without opening a case."""
    verdict = classify(
        body.text,
        await rulebook.category_rules(conn),
        submitted_category=body.category,
        serious_categories=ctx.policy.serious_categories,
    )
    return Verdict(
        category=verdict.category.value, source=verdict.source, rule_id=verdict.rule_id,
        keyword=verdict.keyword, serious=verdict.serious, explanation=verdict.explain(),
    )  # fmt: skip


@router.get("/categories", response_model=Categories)
async def categories(ectx: ECtx, _: CaseReader) -> Categories:
    """The categories of each kind as this installation has them (praise and suggestions':
    its settings), so that a form offers what the service files under, not the defaults.
    Whoever reads cases may read them (codes only): the queue's filter offers them."""
    feedback = ectx.feedback
    return Categories(
        complaint=list(ComplaintCategory),
        praise=list(dict.fromkeys((*feedback.praise_categories, OTHER))),
        suggestion=list(dict.fromkeys((*feedback.suggestion_categories, OTHER))),
    )
