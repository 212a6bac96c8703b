"""REST ingest for hospital systems: one event's data per POST, or a batch of CloudEvents.

202 means stored and queued for publishing (the outbox commits with the visit); 422 names
every bad field, and nothing of a request with a bad part is stored or published.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from hospital_shared.auth import Role
from hospital_shared.db import TRANSIENT_DB_ERRORS
from hospital_shared.events import (
    INPUT_EVENT_TYPES,
    ComplaintSubmitted,
    FeedbackSubmitted,
    PatientDischarged,
    QueueReported,
    RegistrationCreated,
)
from hospital_shared.http_api import require
from hospital_shared.http_guard import GuardedRoute, unprocessable
from hospital_shared.problems import problem
from registration.batch import Loc, error, parse_batch
from registration.cloudevents_http import EVENTS_CONTENT, parse_events_request
from registration.ingest import IntakeRejected, ingest
from registration.intake import Intake
from registration.phones import normalise_phone
from registration.settings import Settings


class Accepted(BaseModel):
    """Stored and queued for publishing: the events' ids, how many went to Kafka at once and
    how many wait in the outbox (`held`), and the ids already taken before (`duplicates`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"event_ids": ["7f0c1e52-2b9e-4d0e-9a57-3c1d2e4f5a6b"], "published": 1,
                 "held": 0, "duplicates": []}
            ]
        }
    )  # fmt: skip

    event_ids: list[str]
    published: int
    held: int
    duplicates: list[str]


# Every ingest route needs a bearer token of the `integration` role (401 / 403 otherwise).
router = APIRouter(
    prefix="/v1",
    tags=["ingest"],
    dependencies=[Depends(require(Role.INTEGRATION))],
    route_class=GuardedRoute,
)
CorrelationId = Annotated[str | None, Header()]
RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"description": "the bad fields, each with its location"},
    503: {"description": "storage unavailable; retry"},
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.runtime.settings
    return settings


async def take(
    request: Request, intakes: Sequence[Intake], locs: Sequence[Loc]
) -> Accepted | JSONResponse:
    """Store and queue `intakes` (`locs`: where each came from in the request, for its
    errors); 422 naming every bad field, 503 while the database is away."""
    settings = _settings(request)
    normalise = partial(
        normalise_phone, region=settings.default_phone_region, mobile_only=settings.mobile_only
    )
    try:
        done = await ingest(
            request.app.state.runtime.pool, intakes, normalise=normalise, channel="rest"
        )
    except IntakeRejected as exc:
        return unprocessable(
            [error([*locs[n], *r.field.split(".")], r.message, r.kind) for n, r in exc.rejections]
        )
    except TRANSIENT_DB_ERRORS:
        return problem(503, "storage unavailable, retry later", headers={"Retry-After": "5"})
    return Accepted(
        event_ids=done.event_ids, published=done.published, held=done.held,
        duplicates=done.duplicates,
    )  # fmt: skip


async def take_one(
    request: Request, type_: str, data: BaseModel, correlation_id: str | None
) -> Accepted | JSONResponse:
    """One event's data as an event of `type_`, made here (id, time, source)."""
    # Text nothing can store was refused before (hospital_shared.http_guard).
    source = _settings(request).event_source
    intake = Intake(type_, data, str(uuid.uuid4()), datetime.now(UTC), source, correlation_id)
    return await take(request, [intake], [["body"]])


# The one-event routes: path, the event type made of the body, its data model, the summary.
ONE_EVENT_ROUTES: list[tuple[str, str, type[BaseModel], str]] = [
    ("/registrations", "registration.created", RegistrationCreated,
     "A patient registered for an outpatient visit (挂号)."),
    ("/discharges", "patient.discharged", PatientDischarged, "An inpatient was discharged (出院)."),
    ("/complaints", "complaint.submitted", ComplaintSubmitted,
     "A complaint (投诉) was lodged at a desk, by phone or online."),
    ("/feedback", "feedback.submitted", FeedbackSubmitted,
     "Praise (表扬) or a suggestion (建议), taken alongside complaints."),
    ("/queue-reports", "queue.reported", QueueReported,
     "How many people wait at a registration window or department queue (挂号排队)."),
]  # fmt: skip


def _one_event_route(path: str, type_: str, model: type[BaseModel], summary: str) -> Any:
    """The route taking one `model` as the data of a `type_` event."""

    async def post(data: Any, request: Request, x_correlation_id: CorrelationId = None) -> Any:
        return await take_one(request, type_, data, x_correlation_id)

    post.__annotations__["data"] = model  # the body's model, for FastAPI and the document
    post.__name__ = "post_" + path.strip("/").replace("-", "_")  # post_registrations ...
    post.__doc__ = summary
    return post


for _path, _type, _model, _summary in ONE_EVENT_ROUTES:
    router.add_api_route(
        _path, _one_event_route(_path, _type, _model, _summary), methods=["POST"], status_code=202,
        response_model=Accepted, responses=RESPONSES,
    )  # fmt: skip


BATCH_BODY = {
    "required": True,
    "description": "CloudEvents of the input types ("
    + ", ".join(INPUT_EVENT_TYPES)
    + "), in any content mode of the CloudEvents HTTP binding: a batch of up to "
    "`REGISTRATION_MAX_BATCH_EVENTS` (1,000) as `application/cloudevents-batch+json` "
    "(or a JSON array as `application/json`), one structured event as "
    "`application/cloudevents+json`, or binary mode: `data` as `application/json` with "
    "the attributes in `ce-*` headers (`ce-specversion`, `ce-id`, `ce-source`, `ce-type`, "
    "`ce-time`, `ce-subject`).",
    "content": EVENTS_CONTENT,
}


@router.post(
    "/events",
    status_code=202,
    response_model=Accepted,
    responses=RESPONSES,
    openapi_extra={"requestBody": BATCH_BODY},
)
async def post_events(request: Request) -> Any:
    """A batch of CloudEvents: all stored and published, or (422) none."""
    # The body is validated from its bytes in one pass (see registration.batch).
    intakes, errors = parse_events_request(
        request.headers, await request.body(), max_events=_settings(request).max_batch_events
    )
    if errors:
        return unprocessable(errors)
    locs: list[Loc] = [["body", n, "data"] for n in range(len(intakes))]
    return await take(request, intakes, locs)


__all__ = ["Accepted", "parse_batch", "router"]
