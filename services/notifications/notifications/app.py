"""Wiring of the notifications service: runtime, consumers, dispatcher, HTTP routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from hospital_shared import topics
from hospital_shared.events import event_types_on
from hospital_shared.patient_merge import (
    following_merges,
    is_merge,
    move_column,
    move_unique,
    one_at_a_time,
)
from hospital_shared.runtime import ServiceRuntime
from notifications import (
    alerts_api,
    api,
    duty_api,
    opt_outs_api,
    optouts,
    repository,
    retention,
    staff_api,
    templates_api,
    unsettled_api,
)
from notifications.callbacks import install_receipt_lane
from notifications.callbacks import router as callbacks_router
from notifications.channels import RobotWebhookSender, SmtpSender, StaffSender
from notifications.digest import DigestJob
from notifications.dispatcher import Dispatcher, start_handed_series
from notifications.domain import QuietHours, SendingRules
from notifications.handlers import EventHandlers, utc_now
from notifications.policy import PlanningRules
from notifications.providers import make_provider
from notifications.questionnaires_api import questionnaire_router
from notifications.receipts import ReceiptWriter
from notifications.settings import Settings
from notifications.staff_dispatcher import StaffDispatcher
from notifications.staff_policy import StaffRules
from notifications.survey_api import survey_router
from notifications.survey_links import SurveyRules
from notifications.survey_reminders import SurveyReminders
from notifications.templates import DEFAULT_TEMPLATES

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

# A patient SMS's idempotency key ends with its recipient, `:patient:<id>:sms`
# (message_rows.py): a merge moves it to the survivor, so that a later event of the same
# subject (a complaint's outcome, planned on `case_communicated` and again on `case_closed`,
# read under the survivor's id) finds it and plans no second SMS. A key the survivor already
# has stays as it was.
_MOVE_MESSAGES = (
    "UPDATE messages SET patient_id = $2, idempotency_key = coalesce(("
    "SELECT k.moved FROM (SELECT left(messages.idempotency_key,"
    " -length(':patient:' || $1 || ':sms')) || ':patient:' || $2 || ':sms' AS moved) k"
    " WHERE right(messages.idempotency_key, length(':patient:' || $1 || ':sms'))"
    " = ':patient:' || $1 || ':sms'"
    " AND NOT EXISTS (SELECT 1 FROM messages o WHERE o.idempotency_key = k.moved)),"
    " idempotency_key) WHERE patient_id = $1"
)

# What a patient merge (ADT^A40) moves here: the messages (so the daily SMS cap, counted
# from them, counts the person once, and their keys: above), the opt-outs, and the contact:
# the survivor's phone is kept, while an opt-out or a death reported under either id holds
# for the survivor.
PATIENT_MOVES = [
    "UPDATE patients s SET sms_opt_out = s.sms_opt_out OR m.sms_opt_out,"
    " deceased = s.deceased OR m.deceased, deceased_ref = coalesce(s.deceased_ref, m.deceased_ref)"
    " FROM patients m WHERE m.patient_id = $1 AND s.patient_id = $2",
    *move_unique("patients"),
    _MOVE_MESSAGES,
    move_column("opt_outs"),
    move_column("survey_links"),
]

CONSUMED_TOPICS = (
    topics.REGISTRATIONS,
    topics.DISCHARGES,
    topics.COMPLAINTS_IN,
    topics.FOLLOWUP_TASKS,
    topics.COMPLAINT_CASES,
    topics.STAFF_ROSTER,
    topics.QUEUE_EPISODES,
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
        survey=survey_rules(settings),
        console_base_url=settings.console_base_url.rstrip("/"),
        common={
            "hospital": settings.hospital_name,
            "hotline": settings.hotline,
            "survey_url": settings.survey_url,
        },
        alert_department=settings.alert_department,
        alert_admin_staff_id=settings.alert_admin_staff_id,
    )


def survey_rules(settings: Settings) -> SurveyRules:
    reminder = settings.survey_reminder_after_h
    return SurveyRules(
        contacts=frozenset(settings.survey_contacts),
        delay=timedelta(hours=settings.survey_delay_h),
        complaint_check_delay=timedelta(hours=settings.survey_complaint_check_delay_h),
        link_validity=timedelta(days=settings.survey_link_validity_days),
        reminder_after=timedelta(hours=reminder) if reminder > 0 else None,
        link_base=settings.survey_link_base or f"{settings.public_url.rstrip('/')}/s",
    )


def sending_rules(settings: Settings) -> SendingRules:
    return SendingRules(
        tz=ZoneInfo(settings.hospital_tz),
        quiet_hours=QuietHours(settings.quiet_hours_start, settings.quiet_hours_end),
        daily_cap=settings.daily_cap_per_patient,
        region=settings.phone_region,
        max_segments=settings.sms_max_segments,
    )


def staff_rules(settings: Settings) -> StaffRules:
    return StaffRules(
        tz=ZoneInfo(settings.hospital_tz),
        quiet_hours=QuietHours(settings.quiet_hours_start, settings.quiet_hours_end),
        default_channels=tuple(settings.staff_channels),
        email_enabled=bool(settings.smtp_host),
        quiet_hours_channels=frozenset(settings.quiet_hours_channels),
        digest_templates=frozenset(settings.digest_templates),
        digest_channels=frozenset(settings.digest_channels),
        digest_times=tuple(settings.digest_times),
        digest_times_by_channel=dict(settings.digest_times_by_channel),
    )


def staff_senders(settings: Settings) -> dict[str, StaffSender]:
    senders: dict[str, StaffSender] = {
        "webhook": RobotWebhookSender(timeout_s=settings.webhook_timeout_s)
    }
    if settings.smtp_host:
        senders["email"] = SmtpSender(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.email_from,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout_s=settings.smtp_timeout_s,
            validate_certs=settings.smtp_validate_certs,
        )
    return senders


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS)
    # Sealed at rest (repository.py); the re-seal job moves them to the current key and fills
    # the search hashes of rows from before encryption.
    runtime.seals("patients", "phone", hashes={"phone_hash": "phone"})
    runtime.seals("opt_outs", *repository.OPT_OUT_SEALED, hashes={"phone_hash": "phone"})
    runtime.seals("messages", *repository.MESSAGE_SEALED, hashes={"to_number_hash": "to_number"})
    runtime.seals("inbound_sms", "phone", "text")
    rules = sending_rules(settings)
    for_staff = staff_rules(settings)
    start_handed_series(t.name for t in DEFAULT_TEMPLATES if t.audience == "patient")
    handlers = EventHandlers(
        planning_rules(settings),
        rules.quiet_hours,
        region=settings.phone_region,
        clock=utc_now,
        staff_rules=for_staff,
        survey_secret=settings.survey_secret,
    )
    handle_batch = following_merges(handlers.handle_batch, PATIENT_MOVES)
    runtime.consume(
        *CONSUMED_TOPICS,
        handler_name="notify",
        handle=one_at_a_time(handle_batch),
        handle_batch=handle_batch,
        acts_on=lambda event: is_merge(event) or handlers.acts_on(event),
    )
    # its own opt-outs, read back: a restore replays those made after the backup
    runtime.consume(topics.OPT_OUTS, handler_name="opt_outs", handle=optouts.replay)
    runtime.publishes(*event_types_on(topics.NOTIFICATIONS))
    runtime.publishes(*event_types_on(topics.OPT_OUTS))
    runtime.publishes(*event_types_on(topics.SURVEYS))
    app = runtime.http_app(
        # First: Kannel's callbacks (patients' replies, receipts by POST) are matched against
        # the routes in order, and trying the routers before them cost 3.5% of the service's
        # CPU at 1,000 events/s. Their paths are exact and no other route's pattern takes
        # them. Receipts by GET, one a delivered SMS, are answered before any routing
        # (install_receipt_lane below).
        callbacks_router,
        api.router,
        opt_outs_api.router,
        templates_api.router,
        staff_api.router,
        duty_api.router,
        unsettled_api.router,
        alerts_api.router,
        survey_router,
        questionnaire_router,
    )
    # Kannel's receipts by GET answered before the app's routing and middleware.
    install_receipt_lane(app)
    app.state.handle_alerts = handlers.handle_batch  # alerts_api: alerts as staff messages
    app.state.sms_max_segments = settings.sms_max_segments  # templates_api: what fits an SMS
    _add_background_work(app, runtime, settings, rules, for_staff, handlers)
    return app


def _add_background_work(
    app: FastAPI,
    runtime: ServiceRuntime,
    settings: Settings,
    rules: SendingRules,
    for_staff: StaffRules,
    handlers: EventHandlers,
) -> None:
    """The SMS dispatcher (woken by `notifications_dispatch`), the staff dispatcher and the
    digest (woken by the same news), the survey reminders, the retention purge: run once the
    runtime has started (hospital_shared.background), templates seeded first; the gateway and
    staff channels closed after the jobs have stopped. Made at start, when the pool is."""
    provider = make_provider(settings)
    senders = staff_senders(settings)

    @runtime.on_start
    async def start() -> None:
        pool = runtime.pool
        assert pool is not None
        async with pool.acquire() as conn:
            await repository.seed_templates(conn)
        dispatcher = Dispatcher(pool, provider, settings, rules, utc_now)
        staff = StaffDispatcher(pool, senders, settings, utc_now)
        most = {
            "max_items": settings.digest_max_items,
            "sms_max_segments": settings.sms_max_segments,
        }
        digests = DigestJob(pool, for_staff, utc_now, **most)
        app.state.dispatcher = dispatcher
        app.state.receipts = ReceiptWriter(pool)

        async def purge() -> int:
            purged = await retention.purge_expired(
                pool,
                retention_days=settings.retention_days,
                batch_size=settings.retention_batch_size,
                now=utc_now(),
            )
            return purged.total

        runtime.run(
            "sms-dispatcher", dispatcher.run, healthy=lambda: dispatcher.healthy,
            wake_on="notifications_dispatch", wake=dispatcher.wake,
        )  # fmt: skip
        interval = settings.dispatch_interval_s
        staff_loop = runtime.loop("staff-dispatcher", staff.dispatch_once, interval_s=interval)
        runtime.loop("digest", digests.run_once, interval_s=settings.digest_interval_s)
        dispatcher.also_wake.append(staff_loop.wake)
        scan = settings.survey_reminder_scan_s
        reminders = SurveyReminders(
            pool, handlers.rules, handlers.message_rows, utc_now, lead=timedelta(seconds=scan),
            paused=settings.survey_reminders_paused,
        )  # fmt: skip
        runtime.loop("survey-reminders", reminders.run_once, interval_s=scan)
        runtime.every(settings.retention_interval_s, "retention", purge)

    runtime.on_stop(provider.aclose)
    for sender in senders.values():
        runtime.on_stop(sender.aclose)
    runtime.add_readiness_check("dispatcher", _all_running(runtime))


def _all_running(runtime: ServiceRuntime) -> Callable[[], Awaitable[bool]]:
    async def running() -> bool:
        return runtime.background.started and not runtime.background.not_running()

    return running
