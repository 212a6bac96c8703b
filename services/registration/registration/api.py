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

from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from hospital_shared.auth import Role
from hospital_shared.db import TRANSIENT_DB_ERRORS
from hospital_shared.events import (
    EVENT_TYPES,
    INPUT_EVENT_TYPES,
    CloudEvent,
    ComplaintSubmitted,
    PatientDischarged,
    RegistrationCreated,
)
from hospital_shared.runtime import ServiceRuntime
from registration.ingest import IntakeRejected, ingest
from registration.intake import Intake
from registration.phones import normalise_phone
from registration.settings import Settings


class Accepted(BaseModel):
    event_ids: list[str]
    published: int
    held: int
    duplicates: list[str]


Loc = list[str | int]


def _error(loc: Loc, msg: str, type_: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": type_}


def _unprocessable(errors: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"detail": errors}, status_code=422)


def ingest_router(runtime: ServiceRuntime, settings: Settings) -> APIRouter:
    # Every ingest route needs a bearer token of the `integration` role (401 / 403 otherwise).
    router = APIRouter(
        prefix="/v1",
        tags=["ingest"],
        dependencies=[Depends(runtime.auth.require(Role.INTEGRATION))],
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
            return _unprocessable(
                [
                    _error([*locs[n], *r.field.split(".")], r.message, r.kind)
                    for n, r in exc.rejections
                ]
            )
        except TRANSIENT_DB_ERRORS:
            return JSONResponse(
                {"detail": "storage unavailable, retry later"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        return Accepted(
            event_ids=done.event_ids,
            published=done.published,
            held=done.held,
            duplicates=done.duplicates,
        )

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
        intake = one("registration.created", data, x_correlation_id)
        return await take(request, [intake], [["body"]])  # type: ignore[return-value]

    @router.post("/discharges", status_code=202, responses=responses)
    async def post_discharge(
        data: PatientDischarged,
        request: Request,
        x_correlation_id: Annotated[str | None, Header()] = None,
    ) -> Accepted:
        """An inpatient was discharged (出院)."""
        intake = one("patient.discharged", data, x_correlation_id)
        return await take(request, [intake], [["body"]])  # type: ignore[return-value]

    @router.post("/complaints", status_code=202, responses=responses)
    async def post_complaint(
        data: ComplaintSubmitted,
        request: Request,
        x_correlation_id: Annotated[str | None, Header()] = None,
    ) -> Accepted:
        """A complaint (投诉) was lodged at a desk, by phone or online."""
        intake = one("complaint.submitted", data, x_correlation_id)
        return await take(request, [intake], [["body"]])  # type: ignore[return-value]

    @router.post("/events", status_code=202, responses=responses)
    async def post_events(
        request: Request,
        events: Annotated[
            list[Any],
            Body(
                description="A JSON array of up to `REGISTRATION_MAX_BATCH_EVENTS` (1,000) "
                "structured-mode CloudEvents of the input types: " + ", ".join(INPUT_EVENT_TYPES)
            ),
        ],
    ) -> Accepted:
        """A batch of CloudEvents: all stored and published, or (422) none."""
        intakes, errors = parse_batch(events, max_events=settings.max_batch_events)
        if errors:
            return _unprocessable(errors)  # type: ignore[return-value]
        locs: list[Loc] = [["body", n, "data"] for n in range(len(intakes))]
        return await take(request, intakes, locs)  # type: ignore[return-value]

    return router


def parse_batch(events: list[Any], *, max_events: int) -> tuple[list[Intake], list[dict[str, Any]]]:
    """Validate every event of a batch; return the intakes, or every error found."""
    if not events:
        return [], [_error(["body"], "the batch is empty", "too_short")]
    if len(events) > max_events:
        return [], [_error(["body"], f"at most {max_events} events per batch", "too_long")]
    intakes: list[Intake] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, doc in enumerate(events):
        type_ = doc.get("type") if isinstance(doc, dict) else None
        if not isinstance(doc, dict):
            errors.append(_error(["body", n], "an event must be a JSON object", "dict_type"))
            continue
        if type_ not in INPUT_EVENT_TYPES:
            errors.append(
                _error(["body", n, "type"], f"unknown input event type {type_!r}", "unknown_type")
            )
            continue
        model = EVENT_TYPES[type_].model
        try:
            event = CloudEvent[model].model_validate(doc)  # type: ignore[valid-type]
        except ValidationError as exc:
            errors.extend(
                _error(["body", n, *e["loc"]], e["msg"], e["type"])
                for e in exc.errors(include_url=False, include_input=False)
            )
            continue
        if event.id in seen:
            errors.append(_error(["body", n, "id"], "the id repeats within the batch", "repeat"))
            continue
        seen.add(event.id)
        intakes.append(
            Intake(type_, event.data, event.id, event.time, event.source, event.correlationid)
        )
    return intakes, errors
