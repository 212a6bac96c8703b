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
from pydantic import BaseModel

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
from hospital_shared.http_guard import GuardedRoute, unprocessable
from hospital_shared.problems import problem
from hospital_shared.runtime import ServiceRuntime
from registration.batch import Loc, error, parse_batch
from registration.cloudevents_http import EVENTS_CONTENT, parse_events_request
from registration.ingest import IntakeRejected, ingest
from registration.intake import Intake
from registration.phones import normalise_phone
from registration.settings import Settings


class Accepted(BaseModel):
    event_ids: list[str]
    published: int
    held: int
    duplicates: list[str]


def ingest_router(runtime: ServiceRuntime, settings: Settings) -> APIRouter:
    # Every ingest route needs a bearer token of the `integration` role (401 / 403 otherwise).
    router = APIRouter(
        prefix="/v1",
        tags=["ingest"],
        dependencies=[Depends(runtime.auth.require(Role.INTEGRATION))],
        route_class=GuardedRoute,
    )
    normalise = partial(
        normalise_phone, region=settings.default_phone_region, mobile_only=settings.mobile_only
    )

    async def take(
        request: Request, intakes: Sequence[Intake], locs: Sequence[Loc]
    ) -> Accepted | JSONResponse:
        try:
            done = await ingest(
                request.app.state.runtime.pool, intakes, normalise=normalise, channel="rest"
            )
        except IntakeRejected as exc:
            return unprocessable(
                [
                    error([*locs[n], *r.field.split(".")], r.message, r.kind)
                    for n, r in exc.rejections
                ]
            )
        except TRANSIENT_DB_ERRORS:
            return problem(503, "storage unavailable, retry later", headers={"Retry-After": "5"})
        return Accepted(
            event_ids=done.event_ids,
            published=done.published,
            held=done.held,
            duplicates=done.duplicates,
        )

    async def take_one(
        request: Request, type_: str, data: BaseModel, correlation_id: str | None
    ) -> Accepted | JSONResponse:
        # Text nothing can store was refused before (hospital_shared.http_guard).
        return await take(request, [one(type_, data, correlation_id)], [["body"]])

    def one(type_: str, data: BaseModel, correlation_id: str | None) -> Intake:
        return Intake(
            type_, data, str(uuid.uuid4()), datetime.now(UTC), settings.event_source, correlation_id
        )

    responses: dict[int | str, dict[str, Any]] = {
        401: {"description": "missing or unknown bearer token"},
        403: {"description": "the token's role is not `integration`"},
        422: {"description": "the bad fields, each with its location"},
        503: {"description": "storage unavailable; retry"},
    }

    @router.post("/registrations", status_code=202, responses=responses)
    async def post_registration(
        data: RegistrationCreated,
        request: Request,
        x_correlation_id: Annotated[str | None, Header()] = None,
    ) -> Accepted:
        """A patient registered for an outpatient visit (挂号)."""
        return await take_one(request, "registration.created", data, x_correlation_id)  # type: ignore[return-value]

    @router.post("/discharges", status_code=202, responses=responses)
    async def post_discharge(
        data: PatientDischarged,
        request: Request,
        x_correlation_id: Annotated[str | None, Header()] = None,
    ) -> Accepted:
        """An inpatient was discharged (出院)."""
        return await take_one(request, "patient.discharged", data, x_correlation_id)  # type: ignore[return-value]

    @router.post("/complaints", status_code=202, responses=responses)
    async def post_complaint(
        data: ComplaintSubmitted,
        request: Request,
        x_correlation_id: Annotated[str | None, Header()] = None,
    ) -> Accepted:
        """A complaint (投诉) was lodged at a desk, by phone or online."""
        return await take_one(request, "complaint.submitted", data, x_correlation_id)  # type: ignore[return-value]

    @router.post("/feedback", status_code=202, responses=responses)
    async def post_feedback(
        data: FeedbackSubmitted,
        request: Request,
        x_correlation_id: Annotated[str | None, Header()] = None,
    ) -> Accepted:
        """Praise (表扬) or a suggestion (建议), taken alongside complaints."""
        return await take_one(request, "feedback.submitted", data, x_correlation_id)  # type: ignore[return-value]

    @router.post("/queue-reports", status_code=202, responses=responses)
    async def post_queue_report(
        data: QueueReported,
        request: Request,
        x_correlation_id: Annotated[str | None, Header()] = None,
    ) -> Accepted:
        """How many people wait at a registration window or department queue (挂号排队)."""
        return await take_one(request, "queue.reported", data, x_correlation_id)  # type: ignore[return-value]

    batch_body = {
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
        responses=responses,
        openapi_extra={"requestBody": batch_body},
    )
    async def post_events(request: Request) -> Accepted:
        """A batch of CloudEvents: all stored and published, or (422) none."""
        # The body is validated from its bytes in one pass (see registration.batch).
        intakes, errors = parse_events_request(
            request.headers, await request.body(), max_events=settings.max_batch_events
        )
        if errors:
            return unprocessable(errors)  # type: ignore[return-value]
        locs: list[Loc] = [["body", n, "data"] for n in range(len(intakes))]
        return await take(request, intakes, locs)  # type: ignore[return-value]

    return router


__all__ = ["Accepted", "ingest_router", "parse_batch"]
