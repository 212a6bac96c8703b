"""`POST /v1/alerts`: Alertmanager's webhook receiver. Prometheus alerts (a service down, the
SMS gateway failing, a KPI off target ...) reach people the way every staff note does: each
firing alert becomes a staff message (template `staff_monitoring_alert`, urgent) to the
on-duty supervisor of `NOTIFICATIONS_ALERT_DEPARTMENT` (an alert labelled `audience: admin`:
the roster's admin, or `NOTIFICATIONS_ALERT_ADMIN_STAFF_ID` when set), sent on their own
channels by the staff dispatcher. Alertmanager sends resolved alerts too (`send_resolved`):
each becomes one note (`staff_monitoring_alert_resolved`) to the staff its firing told, and
none when no firing was told (nobody to reassure). Alertmanager calls with the integration token (deploy/alertmanager,
devstack); the same alert sent again (Alertmanager repeats and retries) is one message: the
key is the alert's fingerprint and start."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from hospital_shared.auth import Role
from hospital_shared.events import CloudEvent, envelope_of
from hospital_shared.http_api import require
from hospital_shared.http_guard import GuardedRoute

ALERT_FIRED = "monitoring.alert_fired"
ALERT_RESOLVED = "monitoring.alert_resolved"

Text = Annotated[str, Field(max_length=2000)]


class AlertIn(BaseModel):
    """One alert as Alertmanager's webhook (version 4) sends it; unknown fields ignored."""

    status: Annotated[str, Field(max_length=16)]
    labels: dict[Annotated[str, Field(max_length=100)], Text] = Field(max_length=50)
    annotations: dict[Annotated[str, Field(max_length=100)], Text] = Field(
        default_factory=dict, max_length=50
    )
    startsAt: datetime  # Alertmanager's spelling
    # When it resolved, as text: a firing alert carries Go's zero time (0001-01-01T00:00:00Z),
    # which a date field would refuse (the whole webhook with it).
    endsAt: Annotated[str, Field(max_length=40)] | None = None
    fingerprint: Annotated[str, Field(min_length=1, max_length=64)]


class AlertmanagerIn(BaseModel):
    version: Annotated[str, Field(max_length=8)] = "4"
    status: Annotated[str, Field(max_length=16)]
    alerts: list[AlertIn] = Field(max_length=500)


class AlertsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"notified": 1}]})

    # firing and resolved alerts handed to the staff path (a repeat is one message)
    notified: int


def firing_id(alert: AlertIn) -> str:
    """The identity of one firing of an alert: its fingerprint and start."""
    return f"alert:{alert.fingerprint}:{alert.startsAt.astimezone(UTC).isoformat()}"


def alert_events(body: AlertmanagerIn, now: datetime) -> list[CloudEvent[Any]]:
    """The firing and resolved alerts as in-process envelopes for the event handlers (never
    published): their id is the firing's identity (`resolved:` before it once resolved), so a
    repeat is recognised and the resolution finds whom the firing told."""
    return [
        envelope_of(AlertIn)(
            specversion="1.0",
            id=firing_id(a) if a.status == "firing" else f"resolved:{firing_id(a)}",
            source="urn:alertmanager",
            type=ALERT_FIRED if a.status == "firing" else ALERT_RESOLVED,
            time=now,
            data=a,
        )
        for a in body.alerts
        if a.status in ("firing", "resolved")
    ]


router = APIRouter(
    prefix="/v1/alerts",
    tags=["alerts"],
    dependencies=[Depends(require(Role.INTEGRATION))],
    route_class=GuardedRoute,
)


@router.post("", response_model=AlertsOut)
async def receive_alerts(request: Request, body: AlertmanagerIn) -> AlertsOut:
    """Alertmanager's webhook: each firing alert to the on-duty supervisor (operations alerts
    to the roster's admin), each resolved one to whoever its firing told. The events go to
    `app.state.handle_alerts(conn, events)`: the notifications event handlers' batch entry."""
    events = alert_events(body, datetime.now(UTC))
    if events:
        async with request.app.state.runtime.pool.acquire() as conn, conn.transaction():
            await request.app.state.handle_alerts(conn, events)
    return AlertsOut(notified=len(events))
