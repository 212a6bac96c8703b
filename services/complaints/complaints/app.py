"""Wiring of the complaints service: runtime, consumers, HTTP routes, background jobs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from fastapi import FastAPI

from complaints import roster
from complaints.api import Context, cases_router
from complaints.handlers import ROSTER_EVENT, ComplaintHandlers, on_roster_event
from complaints.intake import number_allocator, numbers_allocator
from complaints.policy import CasePolicy
from complaints.procedure_api import procedure_router
from complaints.rulebook import RuleBook, seed_rules
from complaints.rules_api import rules_router
from complaints.settings import Settings
from complaints.timers import purge_expired, timer_pass, utc_now
from hospital_shared import topics
from hospital_shared.events import EVENT_TYPES, event_types_on
from hospital_shared.jobs import every
from hospital_shared.runtime import ServiceRuntime

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS)
    policy = CasePolicy.from_settings(settings)
    rulebook = RuleBook()
    allocate = number_allocator(lambda: runtime.pool)
    complaint_handlers = ComplaintHandlers(
        policy, rulebook, allocate_many=numbers_allocator(lambda: runtime.pool), clock=utc_now
    )
    runtime.consume(
        topics.COMPLAINTS_IN,
        handler_name="complaints",
        handle=complaint_handlers.handle,
        handle_batch=complaint_handlers.handle_batch,
    )
    # The roster contract belongs to the follow-up service; consume it once it exists, since
    # events of a type nobody registered would only be dead-lettered.
    if ROSTER_EVENT in EVENT_TYPES:
        runtime.consume(topics.STAFF_ROSTER, handler_name="roster", handle=on_roster_event)
    runtime.publishes(*event_types_on(topics.COMPLAINT_CASES))
    app = runtime.http_app(
        cases_router(runtime.auth), procedure_router(runtime.auth), rules_router(runtime.auth)
    )
    app.state.complaints = Context(
        policy=policy,
        rulebook=rulebook,
        clock=utc_now,
        allocate=allocate,
        satisfaction_check_days=settings.satisfaction_check_days,
    )
    runtime_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        async with runtime_lifespan(app_):
            await _seed(runtime, settings)
            jobs = _start_jobs(runtime, settings, complaint_handlers)
            try:
                yield
            finally:
                for job in jobs:
                    job.cancel()
                for job in jobs:
                    with contextlib.suppress(asyncio.CancelledError):
                        await job

    app.router.lifespan_context = lifespan
    return app


async def _seed(runtime: ServiceRuntime, settings: Settings) -> None:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        if await seed_rules(conn):
            log.info("seeded the default classification rules")
        for member in settings.staff_to_seed():
            await roster.upsert_staff(
                conn,
                member.staff_id,
                department_code=member.department_code,
                role=member.role,
                active=True,
                source="seed",
                only_if_missing=True,
            )


def _start_jobs(
    runtime: ServiceRuntime, settings: Settings, complaints: ComplaintHandlers
) -> list[asyncio.Task[None]]:
    pool = runtime.pool
    assert pool is not None

    async def timers() -> int:
        while await timer_pass(
            pool,
            now=utc_now(),
            batch_size=settings.timer_batch_size,
            desk_department=settings.desk_department,
        ):
            # A full batch may mean more is due: go again at once, unless a backlog of
            # complaints is being opened. Opening comes first (an old backlog makes ~5 alerts
            # per case, all due at once); the alerts follow, a pass per pause.
            if complaints.draining():
                await asyncio.sleep(settings.timer_pause_while_draining_s)
        return 0

    async def purge() -> int:
        while await purge_expired(pool, now=utc_now(), retention_days=settings.retention_days):
            pass
        return 0

    return [
        asyncio.create_task(
            every(settings.timer_interval_s, "time-limit-timer", timers, service="complaints")
        ),
        asyncio.create_task(
            every(settings.purge_interval_s, "retention-purge", purge, service="complaints")
        ),
    ]
