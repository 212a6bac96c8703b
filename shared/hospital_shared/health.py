"""`/healthz` (the process is alive), `/readyz` (broker, database, consumer partitions,
consumers progressing and outbox relay all fine; a stalled consumer is named with its reason), `/metrics` (Prometheus text format), `/asyncapi.json`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from hospital_shared.http_guard import GuardedRoute

if TYPE_CHECKING:
    from hospital_shared.runtime import ServiceRuntime


def health_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(tags=["health"], route_class=GuardedRoute)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime.name}

    @router.get("/readyz")
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

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @router.get("/asyncapi.json")
    async def asyncapi() -> Any:
        return json.loads(runtime.asyncapi.to_specification().to_json())

    return router
