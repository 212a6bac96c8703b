"""`POST /v1/alerts`: Alertmanager's webhook receiver. Prometheus alerts (a service down, the
SMS gateway failing, a KPI off target ...) reach people the way every staff note does: each
firing alert becomes a staff message (template `staff_monitoring_alert`, urgent) to the
on-duty supervisor of `NOTIFICATIONS_ALERT_DEPARTMENT`, sent on their own channels by the
staff dispatcher. Alertmanager calls with the integration token (deploy/alertmanager,
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

Text = Annotated[str, Field(max_length=2000)]


class AlertIn(BaseModel):
    """One alert as Alertmanager's webhook (version 4) sends it; unknown fields ignored."""

    status: Annotated[str, Field(max_length=16)]
    labels: dict[Annotated[str, Field(max_length=100)], Text] = Field(max_length=50)
    annotations: dict[Annotated[str, Field(max_length=100)], Text] = Field(
        default_factory=dict, max_length=50
    )
    startsAt: datetime  # Alertmanager's spelling
    fingerprint: Annotated[str, Field(min_length=1, max_length=64)]


class AlertmanagerIn(BaseModel):
    version: Annotated[str, Field(max_length=8)] = "4"
    status: Annotated[str, Field(max_length=16)]
    alerts: list[AlertIn] = Field(max_length=500)


class AlertsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"notified": 1}]})

    notified: int  # firing alerts handed to the staff path (a repeat is one message)


def alert_events(body: AlertmanagerIn, now: datetime) -> list[CloudEvent[Any]]:
    """The firing alerts as in-process envelopes for the event handlers (never published):
    their id is the alert's identity, so a repeat is recognised."""
    return [
        envelope_of(AlertIn)(
            specversion="1.0",
            id=f"alert:{a.fingerprint}:{a.startsAt.astimezone(UTC).isoformat()}",
            source="urn:alertmanager",
            type=ALERT_FIRED,
            time=now,
            data=a,
        )
        for a in body.alerts
        if a.status == "firing"
    ]


router = APIRouter(
    prefix="/v1/alerts",
    tags=["alerts"],
    dependencies=[Depends(require(Role.INTEGRATION))],
    route_class=GuardedRoute,
)


@router.post("", response_model=AlertsOut)
async def receive_alerts(request: Request, body: AlertmanagerIn) -> AlertsOut:
    """Alertmanager's webhook: each firing alert to the on-duty supervisor. The events go to
    `app.state.handle_alerts(conn, events)`: the notifications event handlers' batch entry."""
    events = alert_events(body, datetime.now(UTC))
    if events:
        async with request.app.state.runtime.pool.acquire() as conn, conn.transaction():
            await request.app.state.handle_alerts(conn, events)
    return AlertsOut(notified=len(events))
