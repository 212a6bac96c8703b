"""Wiring of the complaints service: runtime, consumers, HTTP routes, background jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI

from complaints import (
    api,
    calendar_api,
    desk_api,
    enquiries_api,
    enquiry_store,
    procedure_api,
    repository,
    roster,
    rules_api,
)
from complaints.enquiry_cases import EnquiryPolicy
from complaints.enquiry_timer import enquiry_timer_pass, purge_enquiries_and_feedback
from complaints.feedback_cases import FeedbackPolicy
from complaints.handlers import ROSTER_EVENT, ComplaintHandlers, RosterHandlers
from complaints.http_deps import Context, EnquiryContext
from complaints.intake import number_allocator, numbers_allocator
from complaints.policy import CasePolicy
from complaints.recount import recount_flagged
from complaints.rulebook import RuleBook, seed_rules
from complaints.settings import Settings
from complaints.survey_checks import SurveyChecks
from complaints.timers import purge_expired, timer_pass, utc_now
from hospital_shared import topics
from hospital_shared.calendar_store import LiveCalendar, bundled_schedules
from hospital_shared.events import EVENT_TYPES, event_types_on
from hospital_shared.patient_merge import (
    following_merges,
    is_merge,
    move_column,
    one_at_a_time,
)
from hospital_shared.runtime import ServiceRuntime

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
log = structlog.get_logger(__name__)

# What a patient merge (ADT^A40) moves here: the cases (their deadlines, audit and alerts
# hang off the case). A transfer (ADT^A02) moves nothing: a complaint is routed to the
# department it is about, not to where the patient lies now.
PATIENT_MOVES = [move_column("cases"), move_column("enquiries"), move_column("feedback")]


async def _no_other_patient_events(conn: Any, events: Sequence[Any]) -> None:
    """Of the registrations topic, complaints takes only the merges (following_merges)."""


def feedback_policy(settings: Settings, policy: CasePolicy) -> FeedbackPolicy:
    """Praise and suggestions' categories and numbers, for the REST route and the consumer."""
    return FeedbackPolicy(
        praise_categories=tuple(settings.praise_categories),
        suggestion_categories=tuple(settings.suggestion_categories),
        number_prefix=settings.feedback_number_prefix,
        tz=policy.tz,
    )


ROUTERS = (
    api.router, procedure_api.router, desk_api.router, rules_api.router,
    enquiries_api.enquiries, enquiries_api.feedback, calendar_api.router,
)  # fmt: skip


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS)
    runtime.seals("cases", *repository.CASE_SEALED)  # moved to the current key in the background
    for table, columns in enquiry_store.SEALED.items():
        runtime.seals(table, *columns)
    runtime.seals("case_accountability", *repository.ACCOUNTABILITY_SEALED)
    runtime.reseals("case_audit", repository.reseal_audit_batch)  # its notes, append-only
    runtime.reseals("enquiry_history", enquiry_store.reseal_history_batch)  # hand-over reasons
    calendar = LiveCalendar("complaints", bundled_schedules())
    policy = CasePolicy.from_settings(settings, calendar=lambda: calendar.current)
    rulebook = RuleBook()
    complaint_handlers = _consume(runtime, settings, policy, rulebook)
    app = runtime.http_app(*ROUTERS)
    app.state.calendar = calendar
    app.state.complaints = Context(
        policy=policy,
        rulebook=rulebook,
        clock=utc_now,
        allocate=number_allocator(lambda: runtime.pool),
        satisfaction_check_days=settings.satisfaction_check_days,
    )
    app.state.enquiries = EnquiryContext(
        enquiries=EnquiryPolicy(
            limits=settings.enquiry_limits(),
            warning_fraction=settings.warning_fraction,
            desk_department=settings.desk_department,
            number_prefix=settings.enquiry_number_prefix,
            tz=policy.tz,
        ),
        feedback=feedback_policy(settings, policy),
    )
    runtime.on_start(lambda: _seed(runtime, settings, calendar))
    _add_jobs(runtime, settings, complaint_handlers, calendar, policy)
    return app


def _consume(
    runtime: ServiceRuntime, settings: Settings, policy: CasePolicy, rulebook: RuleBook
) -> ComplaintHandlers:
    """The topics the service reads (complaints, merges, the roster, survey answers) and the
    ones it writes; the complaint handlers, whose draining the timers heed."""
    complaint_handlers = ComplaintHandlers(
        policy,
        rulebook,
        allocate_many=numbers_allocator(lambda: runtime.pool),
        clock=utc_now,
        feedback=feedback_policy(settings, policy),
    )
    intake = following_merges(complaint_handlers.handle_batch, PATIENT_MOVES)
    runtime.consume(
        topics.COMPLAINTS_IN,
        handler_name="complaints",
        handle=one_at_a_time(intake),
        handle_batch=intake,
    )
    merges = following_merges(_no_other_patient_events, PATIENT_MOVES)
    runtime.consume(
        topics.REGISTRATIONS,
        handler_name="patients",
        handle=one_at_a_time(merges),
        handle_batch=merges,
        # Every other registration is validated and counted only: no inbox row, and a batch
        # without a merge no transaction (0.12 of the services' ~1 ms of CPU an event at
        # 1,000 events/s, issue 22).
        acts_on=is_merge,
        fetch_wait_ms=settings.merges_fetch_wait_ms,
    )
    # The roster contract belongs to the follow-up service; consume it once it exists, since
    # events of a type nobody registered would only be dead-lettered.
    if ROSTER_EVENT in EVENT_TYPES:
        on_roster = RosterHandlers(policy, clock=utc_now).handle
        runtime.consume(topics.STAFF_ROSTER, handler_name="roster", handle=on_roster)
    # the satisfaction check after closing, answered by SMS link (survey_checks.py)
    runtime.consume(
        topics.SURVEYS, handler_name="surveys", handle=SurveyChecks(policy, utc_now).handle
    )
    runtime.publishes(*event_types_on(topics.COMPLAINT_CASES, topics.CALENDAR))
    return complaint_handlers


async def _seed(runtime: ServiceRuntime, settings: Settings, calendar: LiveCalendar) -> None:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        if await seed_rules(conn):
            log.info("seeded the default classification rules")
        await calendar.reload(conn)
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


def _add_jobs(
    runtime: ServiceRuntime,
    settings: Settings,
    complaints: ComplaintHandlers,
    calendar: LiveCalendar,
    policy: CasePolicy,
) -> None:
    """The time-limit and enquiry timers, the calendar reload and the retention purge, run by
    the runtime once it has started (hospital_shared.background)."""

    def pool() -> asyncpg.Pool:
        assert runtime.pool is not None
        return runtime.pool

    async def timers() -> int:
        while await timer_pass(
            pool(),
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
        while await purge_expired(pool(), now=utc_now(), retention_days=settings.retention_days):
            pass
        while await purge_enquiries_and_feedback(
            pool(), now=utc_now(), retention_days=settings.retention_days
        ):
            pass
        return 0

    async def enquiry_timers() -> int:
        return await enquiry_timer_pass(
            pool(),
            now=utc_now(),
            batch_size=settings.timer_batch_size,
            desk_department=settings.desk_department,
        )

    async def reload_calendar() -> int:
        async with pool().acquire() as conn:
            await calendar.reload(conn)
        # Cases this instance counted without a year another had just saved.
        return await recount_flagged(pool(), policy, calendar.current, at=utc_now())

    runtime.every(settings.timer_interval_s, "time-limit-timer", timers)
    runtime.every(
        settings.timer_interval_s,
        "enquiry-timer",
        enquiry_timers,
        again_if=settings.timer_batch_size,
    )
    runtime.every(settings.calendar_reload_interval_s, "calendar-reload", reload_calendar)
    runtime.every(settings.purge_interval_s, "retention-purge", purge)
