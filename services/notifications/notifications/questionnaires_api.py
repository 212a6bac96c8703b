"""The questionnaires operations edit (`/v1/questionnaires`): staff read the version in force
of each kind of contact, admins save a new one (hospital_shared.questionnaires)."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from hospital_shared.http_api import Conn, Page, PageQuery
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.questionnaires import ContactKind, Question, Questionnaire
from notifications import survey_store
from notifications.routes import Operations, Staff

log = structlog.get_logger(__name__)


class QuestionnaireIn(BaseModel):
    """A new version of a kind's questionnaire (the version number is given by the save)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    questions: list[Question] = Field(min_length=1, max_length=30)
    base_version: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="the version this one was edited from; when another is in force by the "
        "save (someone saved meanwhile) the save is refused with 409. Left out, the save "
        "does not check (a script that means to replace whatever is in force)",
    )


questionnaire_router = APIRouter(
    prefix="/v1/questionnaires", tags=["questionnaires"], route_class=GuardedRoute
)


@questionnaire_router.get("", response_model=Page[Questionnaire])
async def list_questionnaires(
    request: Request, conn: Conn, _: Staff, page: PageQuery
) -> Page[Questionnaire]:
    """The questionnaire in force for each kind of contact, by kind."""
    kinds = sorted(ContactKind, key=lambda k: k.value)
    start = page.position(frozenset({"kind"}))
    if start is not None:
        kinds = [k for k in kinds if k.value > str(start["kind"])]
    shown = kinds[: page.limit]
    items = [await survey_store.current_questionnaire(conn, kind) for kind in shown]
    last = {"kind": shown[-1].value} if len(kinds) > page.limit else None
    return page.page(request, items, last)


@questionnaire_router.put(
    "/{kind}",
    response_model=Questionnaire,
    responses={409: {"description": "another version than `base_version` is in force"}},
)
async def save_questionnaire(
    conn: Conn, kind: ContactKind, body: QuestionnaireIn, who: Operations
) -> Questionnaire:
    """Save a new version of `kind`'s questionnaire; answers given before keep theirs. With
    `base_version`, only when that version is still the one in force (else 409)."""
    try:
        draft = Questionnaire(kind=kind, version=1, **body.model_dump(exclude={"base_version"}))
    except ValueError as exc:
        detail = [{"loc": ["body", "questions"], "msg": str(exc).splitlines()[0][:200],
                   "type": "value_error"}]  # fmt: skip
        raise HTTPException(422, detail) from None
    try:
        async with conn.transaction():
            saved = await survey_store.save_questionnaire(
                conn, draft, saved_by=who.staff_id or who.role.value, base=body.base_version
            )
    except survey_store.ChangedMeanwhile as exc:
        in_force = f"version {exc.in_force} is in force, not {body.base_version}: saved meanwhile"
        raise HTTPException(409, in_force) from None
    log.info("questionnaire saved", kind=kind.value, version=saved.version)
    return saved
