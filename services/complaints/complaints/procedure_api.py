"""HTTP routes for the rest of the complaint procedure (issue 21): the validity decision,
escalation to the director, radiology's confirmation, accountability, the settlement and the
confidentiality level. Each parses, authorizes, runs one use case of `procedure` and answers
with the case as the caller may see it (`api.run`, `api.render`)."""

from datetime import date
from decimal import Decimal
from functools import partial
from typing import Annotated, Any

from fastapi import HTTPException, status
from pydantic import Field

from complaints import desk, procedure
from complaints.api import run
from complaints.domain import AccountabilityMeasure, Confidentiality, NotPermitted
from complaints.http_deps import CONFLICT, Ctx, Manager, Overseer, Worker, actor_of
from complaints.responses import CaseAccountability, CaseAnswer
from complaints.views import CaseStepIn, Short, Text
from hospital_shared.access_records import audited_router
from hospital_shared.http_api import Conn


class ValidityIn(CaseStepIn):
    founded: bool
    reason: Text


class EscalationIn(CaseStepIn):
    reason: Text


class ImagingConfirmationIn(CaseStepIn):
    note: Text | None = None


class AccountabilityIn(CaseStepIn):
    staff_id: Annotated[str, Field(min_length=1, max_length=64)]
    measure: AccountabilityMeasure
    detail: Text | None = None
    record_key: Short | None = Field(
        None,
        description="the sender's one-time key of this record (e.g. a uuid per form shown):"
        " sent again with the same record, the case is answered and nothing recorded twice;"
        " with another record, 409",
    )


class SettlementIn(CaseStepIn):
    # numeric(12, 2): up to 9,999,999,999.99 yuan; the rules (`domain.check_settlement`) say
    # what else makes an agreement valid.
    amount: Annotated[Decimal, Field(max_digits=14, lt=Decimal("10000000000"))]
    signed_on: date
    document_ref: Short


class NoteIn(CaseStepIn):
    note: Text


class ConfidentialityIn(CaseStepIn):
    level: Confidentiality
    note: Text | None = None


router = audited_router("/v1/cases/{number}", "complaints")
# Each step answers with the case as the caller may see it; a refused one is a 409 (or 403).
STEP: dict[str, Any] = {"response_model": CaseAnswer, "responses": CONFLICT}


@router.post("/validity", **STEP)
async def decide_validity(
    number: str, body: ValidityIn, conn: Conn, ctx: Ctx, principal: Worker
) -> CaseAnswer:
    actor = actor_of(principal)
    return await run(conn, ctx, actor, lambda: procedure.decide_validity(
        conn, ctx.policy, number, founded=body.founded, reason=body.reason, actor=actor,
        now=ctx.clock(), expected_version=body.expected_version,
    ))  # fmt: skip


@router.post("/escalation", **STEP)
async def escalate(
    number: str, body: EscalationIn, conn: Conn, ctx: Ctx, principal: Manager
) -> CaseAnswer:
    actor = actor_of(principal)
    return await run(conn, ctx, actor, lambda: procedure.escalate(
        conn, ctx.policy, number, reason=body.reason, actor=actor, now=ctx.clock(),
        expected_version=body.expected_version,
    ))  # fmt: skip


@router.post("/imaging-confirmation", **STEP)
async def confirm_imaging(
    number: str, body: ImagingConfirmationIn, conn: Conn, ctx: Ctx, principal: Worker
) -> CaseAnswer:
    actor = actor_of(principal)
    return await run(conn, ctx, actor, lambda: procedure.confirm_imaging(
        conn, ctx.policy, number, note=body.note, actor=actor, now=ctx.clock(),
        expected_version=body.expected_version,
    ))  # fmt: skip


@router.post("/accountability", **STEP)
async def record_accountability(
    number: str, body: AccountabilityIn, conn: Conn, ctx: Ctx, principal: Manager
) -> CaseAnswer:
    actor = actor_of(principal)
    return await run(conn, ctx, actor, lambda: procedure.record_accountability(
        conn, number, staff_id=body.staff_id, measure=body.measure, detail=body.detail,
        actor=actor, now=ctx.clock(), expected_version=body.expected_version,
        record_key=body.record_key,
    ))  # fmt: skip


@router.get("/accountability", response_model=CaseAccountability)
async def read_accountability(number: str, conn: Conn, principal: Overseer) -> CaseAccountability:
    try:
        records = await procedure.accountability_of(conn, number, actor_of(principal))
    except NotPermitted as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(exc)) from None
    except procedure.cases.CaseNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no case {number}") from None
    return CaseAccountability.model_validate({"case_number": number, "accountability": records})


@router.post("/settlement", **STEP)
async def record_settlement(
    number: str, body: SettlementIn, conn: Conn, ctx: Ctx, principal: Worker
) -> CaseAnswer:
    actor = actor_of(principal)
    return await run(conn, ctx, actor, lambda: procedure.record_settlement(
        conn, ctx.policy, number, amount=body.amount, signed_on=body.signed_on,
        document_ref=body.document_ref, actor=actor, now=ctx.clock(),
        expected_version=body.expected_version,
    ))  # fmt: skip


@router.post("/notes", **STEP)
async def add_note(
    number: str, body: NoteIn, conn: Conn, ctx: Ctx, principal: Worker
) -> CaseAnswer:
    """A note in the case's written record (the desk's case page)."""
    actor = actor_of(principal)
    note = partial(
        desk.add_note, conn, number, note=body.note, actor=actor, now=ctx.clock(),
        expected_version=body.expected_version,
    )  # fmt: skip
    return await run(conn, ctx, actor, note)


@router.post("/confidentiality", **STEP)
async def set_confidentiality(
    number: str, body: ConfidentialityIn, conn: Conn, ctx: Ctx, principal: Manager
) -> CaseAnswer:
    actor = actor_of(principal)
    return await run(conn, ctx, actor, lambda: procedure.set_confidentiality(
        conn, number, level=body.level, note=body.note, actor=actor, now=ctx.clock(),
        expected_version=body.expected_version,
    ))  # fmt: skip
