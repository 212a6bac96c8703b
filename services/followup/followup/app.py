"""Wiring of the follow-up service: runtime, consumers, HTTP routes, periodic jobs."""

from __future__ import annotations

from pathlib import Path

import structlog
from fastapi import FastAPI

from followup import calendar_sync, call_opt_outs, departments, jobs, roster
from followup.api import router as tasks_router
from followup.department_api import router as departments_router
from followup.handlers import EventHandlers
from followup.service import Service
from followup.settings import Settings
from followup.staff_api import router as staff_router
from followup.surveys import SurveyAnswers
from hospital_shared import topics
from hospital_shared.events import event_types_on
from hospital_shared.patient_merge import (
    following_merges,
    lock_in_order,
    move_column,
    move_unique,
    one_at_a_time,
)
from hospital_shared.runtime import ServiceRuntime

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
log = structlog.get_logger(__name__)

# What a patient merge (ADT^A40) moves here: the tasks (calls, outcomes and attempts hang
# off the task id, not the patient), the call opt-out and the death report (either id's is
# kept). The tasks are locked by task id first, the order every lock of several calls takes
# here (call_opt_outs.LOCK_ORDER).
PATIENT_MOVES = [
    lock_in_order("follow_up_tasks", "task_id"),
    move_column("follow_up_tasks"),
    *move_unique("call_opt_outs"),
    *move_unique("deceased_patients"),
]

# The discharges and the registrations in one consumer group. Until 2026-12 each topic had a
# group of its own, named by these handler names: at 1,000 events/s each paid its own small
# batches, transactions and offset commits, and its own fetches when idle (issue 22). The new
# group starts from those groups' offsets and its inbox rows keep their names (runtime.consume's
# `replaces`), so an upgrade neither reads again nor plans twice.
HANDLER = "events"
CONSUMED: dict[str, str] = {
    "discharges": topics.DISCHARGES,
    "registrations": topics.REGISTRATIONS,
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS)
    service = Service.create(settings, runtime)
    # the seed's departments are named by the seed, not by the first event naming them
    seeded = {d["code"] for d in service.settings.departments_to_seed()}
    handlers = EventHandlers(service.book, service.tz, seeded_departments=seeded)
    handle_batch = following_merges(handlers.handle_batch, PATIENT_MOVES)
    runtime.consume(
        *CONSUMED.values(),
        handler_name=HANDLER,
        handle=one_at_a_time(handle_batch),
        handle_batch=handle_batch,
        replaces=CONSUMED,
    )
    runtime.consume(
        topics.CALENDAR, handler_name="calendar", handle=calendar_sync.on_calendar_event
    )
    runtime.consume(
        topics.SURVEYS,
        handler_name="surveys",
        handle=SurveyAnswers(service.book, service.tz).handle,
    )
    runtime.consume(topics.CALL_OPT_OUTS, handler_name="call_opt_outs", handle=call_opt_outs.replay)
    runtime.publishes(
        *event_types_on(topics.FOLLOWUP_TASKS, topics.STAFF_ROSTER, topics.CALL_OPT_OUTS),
        "complaint.submitted",
    )
    runtime.seals("follow_up_tasks", "patient_phone", "feedback", "objection", "answers")
    runtime.seals("call_attempts", "feedback")
    app = runtime.http_app(tasks_router, staff_router, departments_router)
    app.state.followup = service  # what the routes' `Svc` dependency answers
    _add_background_jobs(app, service)
    return app


def _add_background_jobs(app: FastAPI, service: Service) -> None:
    """Seed the roster and load the calendar once the runtime has started; then the
    periodic jobs (hospital_shared.background)."""
    runtime, settings, batch = service.runtime, service.settings, service.settings.job_batch_size

    @runtime.on_start
    async def seed_and_load() -> None:
        pool = service.pool()
        async with pool.acquire() as conn, conn.transaction():
            seeded = await roster.seed(conn, settings.staff_to_seed())
            named = await departments.seed(conn, settings.departments_to_seed())
        if seeded or named:
            log.info("staff roster seeded", added=seeded, departments=named)
        await calendar_sync.reload(pool)

    delay = settings.jobs_start_delay_s
    runtime.every(
        settings.assign_interval_s,
        "assign",
        jobs.after_start_delay(
            delay, lambda: jobs.assign_pending(service.pool(), service.book, batch_size=batch)
        ),
        again_if=batch,
    )
    runtime.every(
        settings.scan_interval_s,
        "due_overdue",
        jobs.after_start_delay(
            delay, lambda: jobs.publish_due_and_overdue(service.pool(), batch_size=batch)
        ),
        again_if=batch,
    )
    runtime.every(
        settings.calendar_reload_interval_s,
        "calendar-reload",
        lambda: calendar_sync.reload(service.pool()),
    )
    runtime.every(
        settings.retention_interval_s, "retention",
        lambda: jobs.purge_expired(
            service.pool(), retention_days=settings.retention_days, batch_size=batch
        ),
    )  # fmt: skip
