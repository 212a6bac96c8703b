"""What operations must look at: SMS whose outcome is unknown (the service lost track of the
hand-over and Kannel's log does not show it) and SMS the gateway accepted that still lack a
final receipt past `receipt_overdue_min`. The same counts as the gauges (reconciler.py), with
the messages, without number or text."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict

from hospital_shared.access_records import Read, Reader, audited_router, record
from hospital_shared.http_api import Conn, Page, PageRequest, WireTime, page_query, split_page
from notifications import sending
from notifications.routes import Manager, message_after, message_position


class UnsettledSms(BaseModel):
    id: str
    patient_id: str | None
    staff_id: str | None
    template: str
    status: str
    status_reason: str | None
    handed_at: WireTime | None
    submitted_at: WireTime | None


class UnsettledView(Page[UnsettledSms]):
    """A page of the unsettled SMS, the newest first, with the counts of them all (every page
    carries the counts: they are the gauges' figures at the time of asking)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"outcome_unknown": 1, "receipt_overdue": 0, "receipt_overdue_after_min": 60.0,
                 "items": [{"id": "0e7c2f4a-3b1d-4c55-9a8e-2f1d9c3b7a10",
                            "patient_id": "P000123", "staff_id": None,
                            "template": "appointment_reminder", "status": "failed",
                            "status_reason": "outcome_unknown",
                            "handed_at": "2026-12-05T01:00:00Z", "submitted_at": None}],
                 "next": None, "limit": 100}
            ]
        }
    )  # fmt: skip

    outcome_unknown: int
    receipt_overdue: int
    receipt_overdue_after_min: float


router = audited_router("/v1/sms", "notifications")
UnsettledPage = Annotated[PageRequest, Depends(page_query(default=100, maximum=1000))]


@router.get("/unsettled", response_model=UnsettledView)
async def unsettled(
    request: Request, conn: Conn, who: Manager, page: UnsettledPage
) -> UnsettledView:
    """How many SMS have an unknown outcome or are overdue for a receipt, and a page of them,
    the newest first."""
    settings = request.app.state.runtime.settings
    overdue_before = datetime.now(UTC) - timedelta(minutes=settings.receipt_overdue_min)
    unknown, overdue = await sending.count_unsettled(conn, overdue_before)
    rows = await sending.list_unsettled(
        conn, overdue_before, page.limit + 1, after=message_after(page)
    )
    shown, more = split_page(list(rows), page.limit)
    reads = [Read(r["patient_id"], "message", str(r["id"])) for r in shown if r["patient_id"]]
    await record(conn, Reader.of(who), reads)
    items = [UnsettledSms.model_validate({**dict(r), "id": str(r["id"])}) for r in shown]
    listed = page.page(request, items, message_position(shown[-1] if more else None))
    return UnsettledView(
        items=listed.items, next=listed.next, limit=listed.limit, outcome_unknown=unknown,
        receipt_overdue=overdue, receipt_overdue_after_min=settings.receipt_overdue_min,
    )  # fmt: skip
