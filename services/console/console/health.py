"""`/healthz` (the process is alive), `/readyz` (its database answers), `/metrics`: the same
endpoints as every service, for devstack, compose and Prometheus. The console has no Kafka
consumer or outbox, so readiness is its database and its background jobs (`hospital_shared.background`); a service it calls being away shows
on the page that needs it."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from hospital_shared.http_guard import GuardedRoute

router = APIRouter(tags=["health"], route_class=GuardedRoute)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok", "service": "console"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    pool: Any = getattr(request.app.state, "pool", None)
    try:
        async with asyncio.timeout(2.0), pool.acquire() as conn:
            database = await conn.fetchval("SELECT 1") == 1
    except Exception:
        database = False
    jobs = getattr(request.app.state, "background", None)
    stopped = jobs.not_running() if jobs is not None else []
    ready = database and not stopped
    checks: dict[str, Any] = {"database": database, "jobs_not_running": stopped}
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
