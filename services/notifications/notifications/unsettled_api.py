"""What operations must look at: SMS whose outcome is unknown (the service lost track of the
hand-over and Kannel's log does not show it) and SMS the gateway accepted that still lack a
final receipt past `receipt_overdue_min`. The same counts as the gauges (reconciler.py), with
the messages, without number or text."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from hospital_shared.access_records import Read, Reader, audited_router, record
from hospital_shared.auth import Principal, Role, TokenAuth
from notifications import sending


class UnsettledSms(BaseModel):
    id: str
    patient_id: str | None
    staff_id: str | None
    template: str
    status: str
    status_reason: str | None
    handed_at: datetime | None
    submitted_at: datetime | None


class UnsettledView(BaseModel):
    outcome_unknown: int
    receipt_overdue: int
    receipt_overdue_after_min: float
    messages: list[UnsettledSms]  # the newest first, at most `limit`


def build_unsettled_router(auth: TokenAuth) -> APIRouter:
    router = audited_router("/v1/sms", "notifications")
    managers = auth.require(Role.SUPERVISOR, Role.ADMIN)

    @router.get("/unsettled", response_model=UnsettledView)
    async def unsettled(
        request: Request,
        who: Annotated[Principal, Depends(managers)],
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        settings = request.app.state.runtime.settings
        overdue_before = datetime.now(UTC) - timedelta(minutes=settings.receipt_overdue_min)
        async with request.app.state.runtime.pool.acquire() as conn:
            unknown, overdue = await sending.count_unsettled(conn, overdue_before)
            rows = await sending.list_unsettled(conn, overdue_before, limit)
            reads = [
                Read(r["patient_id"], "message", str(r["id"])) for r in rows if r["patient_id"]
            ]
            await record(conn, Reader.of(who), reads)
        return {
            "outcome_unknown": unknown,
            "receipt_overdue": overdue,
            "receipt_overdue_after_min": settings.receipt_overdue_min,
            "messages": [{**dict(r), "id": str(r["id"])} for r in rows],
        }

    return router
