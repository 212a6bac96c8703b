"""Wiring of the notifications service: runtime, consumers, dispatcher, HTTP routes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from hospital_shared import topics
from hospital_shared.runtime import ServiceRuntime
from notifications import repository
from notifications.api import build_router
from notifications.callbacks import router as callbacks_router
from notifications.dispatcher import Dispatcher
from notifications.domain import QuietHours, SendingRules
from notifications.handlers import EventHandlers, utc_now
from notifications.policy import PlanningRules
from notifications.providers import make_provider
from notifications.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

CONSUMED_TOPICS = (
    topics.REGISTRATIONS,
    topics.DISCHARGES,
    topics.COMPLAINTS_IN,
    topics.FOLLOWUP_TASKS,
    topics.COMPLAINT_CASES,
    topics.STAFF_ROSTER,
)


def planning_rules(settings: Settings) -> PlanningRules:
    return PlanningRules(
        tz=ZoneInfo(settings.hospital_tz),
        reminder_mode=settings.reminder_mode,
        reminder_evening_time=settings.reminder_evening_time,
        reminder_lead=timedelta(hours=settings.reminder_lead_h),
        reminder_min_lead=timedelta(minutes=settings.reminder_min_lead_min),
        discharge_notice_delay=timedelta(minutes=settings.discharge_notice_delay_min),
        validity=timedelta(hours=settings.message_validity_h),
        survey_task_kinds=frozenset(settings.survey_task_kinds),
        common={
            "hospital": settings.hospital_name,
            "hotline": settings.hotline,
            "survey_url": settings.survey_url,
        },
    )


def sending_rules(settings: Settings) -> SendingRules:
    return SendingRules(
        tz=ZoneInfo(settings.hospital_tz),
        quiet_hours=QuietHours(settings.quiet_hours_start, settings.quiet_hours_end),
        daily_cap=settings.daily_cap_per_patient,
        region=settings.phone_region,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS)
    rules = sending_rules(settings)
    handlers = EventHandlers(
        planning_rules(settings), rules.quiet_hours, region=settings.phone_region, clock=utc_now
    )
    runtime.consume(*CONSUMED_TOPICS, handler_name="notify", handle=handlers.handle)
    app = runtime.http_app(build_router(runtime.auth), callbacks_router)
    runtime_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        async with runtime_lifespan(app_):
            assert runtime.pool is not None
            async with runtime.pool.acquire() as conn:
                await repository.seed_templates(conn)
            provider = make_provider(settings)
            dispatcher = Dispatcher(runtime.pool, provider, settings, rules, utc_now)
            app_.state.dispatcher = dispatcher
            tasks = [
                asyncio.create_task(dispatcher.run(), name="sms-dispatcher"),
                asyncio.create_task(dispatcher.listen(), name="sms-dispatch-listener"),
            ]
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                await provider.aclose()

    app.router.lifespan_context = lifespan
    return app
