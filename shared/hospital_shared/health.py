"""`/healthz` (the process is alive), `/readyz` (broker, database, consumer partitions,
consumers progressing and outbox relay all fine; a stalled consumer is named with its reason), `/metrics` (Prometheus text format), `/asyncapi.json`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from hospital_shared.http_guard import GuardedRoute

if TYPE_CHECKING:
    from hospital_shared.runtime import ServiceRuntime


_READINESS = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["ready", "not ready"]},
        "checks": {"type": "object", "additionalProperties": {"type": "boolean"}},
        "stalled_consumers": {"type": "array", "items": {"type": "object", "properties": {}}},
        "failing_jobs": {"type": "array", "items": {"type": "object", "properties": {}}},
    },
}
# What the three answers hold, for the OpenAPI document (they are not pydantic models).
READY: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"schema": _READINESS}}},
    503: {"description": "not ready", "content": {"application/json": {"schema": _READINESS}}},
}
PROMETHEUS_TEXT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}}}
}
ASYNCAPI: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the AsyncAPI 3.0 document of the events this service consumes and emits",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["asyncapi", "info"],
                    "properties": {
                        "asyncapi": {"type": "string"},
                        "info": {"type": "object", "properties": {}},
                        "channels": {"type": "object", "properties": {}},
                        "operations": {"type": "object", "properties": {}},
                        "components": {"type": "object", "properties": {}},
                    },
                }
            }
        },
    }
}


def health_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(tags=["health"], route_class=GuardedRoute)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime.name}

    @router.get("/readyz", responses=READY)
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(checks.values())
        body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
        stalled = runtime.stalled_consumers()
        if stalled:  # which consumer group, how many records wait, since when, and why
            body["stalled_consumers"] = stalled
        failing = runtime.failing_jobs()
        if failing:  # background jobs that ended or keep failing
            body["failing_jobs"] = failing
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics", response_class=PlainTextResponse, responses=PROMETHEUS_TEXT)
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @router.get("/asyncapi.json", responses=ASYNCAPI)
    async def asyncapi() -> Any:
        return json.loads(runtime.asyncapi.to_specification().to_json())

    return router
