"""HTTP routes for the hospital's classification rules: read, add, change, try out."""

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, status

from complaints import rulebook
from complaints.api import STAFF, Conn, Ctx, actor_of
from complaints.classifier import classify
from complaints.views import ClassifyIn, RuleIn, RulePatch
from hospital_shared.auth import Principal, Role, TokenAuth
from hospital_shared.http_guard import GuardedRoute


def rules_router(auth: TokenAuth) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["classification rules"], route_class=GuardedRoute)
    editors = auth.require(Role.SUPERVISOR, Role.ADMIN)

    @router.get("/category-rules")
    async def list_rules(
        conn: Conn, _: Annotated[Principal, Depends(auth.require(*STAFF, Role.ADMIN))]
    ) -> dict[str, Any]:
        return {"rules": await rulebook.category_rule_rows(conn)}

    @router.post("/category-rules", status_code=status.HTTP_201_CREATED)
    async def save_rule(
        body: RuleIn, conn: Conn, ctx: Ctx, principal: Annotated[Principal, Depends(editors)]
    ) -> dict[str, Any]:
        row = await rulebook.upsert_rule(
            conn, body.model_dump(mode="json"), by=actor_of(principal).id
        )
        ctx.rulebook.invalidate()
        return row

    @router.patch("/category-rules/{rule_id}")
    async def change_rule(
        rule_id: int,
        body: RulePatch,
        conn: Conn,
        ctx: Ctx,
        principal: Annotated[Principal, Depends(editors)],
    ) -> dict[str, Any]:
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
        return row

    @router.post("/classify")
    async def try_classification(
        body: ClassifyIn,
        conn: Conn,
        ctx: Ctx,
        _: Annotated[Principal, Depends(auth.require(*STAFF, Role.ADMIN))],
    ) -> dict[str, Any]:
        """What the rules make of a text, without opening a case."""
        verdict = classify(
            body.text,
            await rulebook.category_rules(conn),
            submitted_category=body.category,
            serious_categories=ctx.policy.serious_categories,
        )
        return {
            "category": verdict.category.value,
            "source": verdict.source,
            "rule_id": verdict.rule_id,
            "keyword": verdict.keyword,
            "serious": verdict.serious,
            "explanation": verdict.explain(),
        }

    return router
