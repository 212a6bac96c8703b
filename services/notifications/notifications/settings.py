"""Settings of the notifications service: shared variables plus `NOTIFICATIONS_*` ones.

Every policy number here is a default a hospital may override (DOMAIN.md); templates live in
the database (seeded from `templates.DEFAULT_TEMPLATES`)."""

from __future__ import annotations

from datetime import time

from pydantic import AliasChoices, Field, ValidationInfo, field_validator

from hospital_shared.settings import service_settings_class
from hospital_shared.vocabulary import ContactKind, TaskKind
from notifications.domain import ip_networks
from notifications.policy import ReminderMode

_Base = service_settings_class("notifications", 8004)


class Settings(_Base):  # type: ignore[misc,valid-type]
    # the consumer, the dispatch listener, the dispatcher's claim/record, the staff and digest
    # loops and every delivery receipt from Kannel (two per SMS) share this pool; with the
    # shared default (5) receipts starved the dispatcher (~80 SMS/s instead of ~125/s)
    db_pool_max: int = 12
    # A backlog's batch is handled in two transactions at once (by partition): one waits on
    # PostgreSQL while the other plans its messages. Bench drain of 278,357 events, 1 and 2
    # back to back: 5,418 -> 6,025/s, then 6,576 -> 8,003/s.
    consumer_concurrency: int = Field(
        2, ge=1, le=8, description="transactions a batch is split into (by partition), run at once"
    )
    # Batches of 1,000 events, not the shared 2,000: a batch's decoded events and the rows
    # built from them stay resident after it (issue 22, peak RSS <= 150 MB). Same-run drains
    # of a 40,000-event backlog (58,094 events, load 8-12): peak 156.6 -> 141.2 MB at
    # 3,784 -> 4,114 events/s; 500 was lower still (131.8 MB) but 29% slower.
    consumer_max_records: int = Field(
        1000, ge=1, description="the most events in one consumer's batch"
    )
    # --- the gateway
    sms_provider: str = "kannel"
    kannel_url: str = "http://127.0.0.1:13013/cgi-bin/sendsms"
    kannel_username: str = "hospital"
    kannel_password: str = "hospital-dev"
    kannel_smsc: str = ""  # force an SMSC id; empty: Kannel routes
    kannel_access_log: str = Field(
        "",
        description="bearerbox's access log, readable by this service: an interrupted hand-over"
        " is looked up there by message id (empty: it stays failed / outcome_unknown)",
    )
    sms_sender: str = "95000"  # the sender number patients see
    public_url: str = "http://127.0.0.1:8004"  # base of the dlr-url Kannel calls back
    callback_secret: str = "dev-callback-secret"  # signs the dlr-url of every message
    callback_previous_secrets: tuple[str, ...] = Field(
        (),
        description="earlier callback secrets (a JSON list), kept after a rotation while the"
        " receipts of messages sent under them may still come",
    )
    callback_allowed_ips: tuple[str, ...] = Field(
        ("127.0.0.1", "::1"),
        description="who may post delivery reports and MO: IP addresses or CIDR ranges",
    )
    gateway_timeout_s: float = 10.0
    # --- dispatching
    # The operator's hold on patient and staff SMS (a wrong template going out, the operator's
    # contract suspended, a drain measured without the hand-over): messages are still planned
    # and wait `pending`; nothing is handed to the gateway, deferred or expired until a
    # restart without it, when the dispatcher takes them as it would after an outage.
    sms_dispatch_paused: bool = Field(
        False,
        description="hold every SMS: planned messages wait pending, none is handed to the"
        " gateway, deferred or expired until the service runs without it",
    )
    dispatch_interval_s: float = 0.5
    dispatch_batch_size: int = 100
    # sendsms requests at once: Kannel answers after bearerbox has queued the message, 40-50 ms
    # here whatever the concurrency up to ~25 (about 200/s at 10, 320/s at 25). Bench latency
    # at 200 events/s, SMS p99: 211 ms at 10, 131 ms at 20; at 1000/s the queue's p50 27 -> 19 s.
    # With sends under way a claim waits for half of the slots or of `dispatch_batch_size`,
    # whichever is fewer (dispatcher.claim_when_free), and is one transaction of five or more
    # statements, 50-100 ms at 1,000 events/s; with 40 slots it took ~20 messages, and the
    # claims one after the other were the hand-over's ceiling (~200 SMS/s, the sends 32 ms at
    # p50 meanwhile). With 120 a claim takes what has fallen due, up to `dispatch_batch_size`:
    # SMS p99 1.0 / 2.2 / 2.3 -> 1.0 / 1.2 / 1.2 s, three pairs (docs/bench.md, session 23).
    # Kannel took 400+ SMS/s over 50 connections at load 30 (bench/smsc.py). The Kannel client
    # keeps as many connections alive (providers/kannel.py: one aiohttp connector of this size).
    dispatch_concurrency: int = 120
    send_retry_initial_s: float = Field(
        5.0, gt=0, description="a message the SMS gateway (or a staff email or webhook) did not"
        " take is tried again after this, doubling at each attempt (5 s, 10 s, 20 s ...) up to"
        " send_retry_max_s"
    )  # fmt: skip
    send_retry_max_s: float = Field(300.0, gt=0, description="the longest wait between attempts")
    send_max_attempts: int = Field(
        8, ge=1, description="a message not taken with an error that may pass (the SMS"
        " gateway's 403 of credentials or 500, a mail server's 535, a robot's 429 or 500) is"
        " failed after this many such answers, counted apart from the attempts made while its"
        " gateway or server could not be reached (it waits for that until it expires:"
        " sms_gateway_wait_h, staff_channel_wait_h)"
    )  # fmt: skip
    # 24 h: a complaint's first response is due within 24 hours (DOMAIN.md), and a staff
    # note about a case or a time limit is stale by then; patient SMS carry their own expiry.
    sms_gateway_wait_h: float = Field(
        24.0, gt=0, description="an SMS without its own expiry time that the gateway could not"
        " be reached for is retried this long after it fell due, then failed; one with an"
        " expiry time is retried until it expires"
    )  # fmt: skip
    # 24 h, as for SMS: the inbox copy is there at once; a note about a case or a time limit
    # is stale a day later. A task assignment carries its own expiry (the task's due time).
    staff_channel_wait_h: float = Field(
        24.0, gt=0, description="a staff email or webhook note without its own expiry time"
        " whose server (the mail relay, the robot's endpoint) could not be reached or was"
        " unavailable is retried this long after it fell due, then failed; one with an expiry"
        " time is retried until it expires"
    )  # fmt: skip
    sending_lease_s: float = 60.0  # 'sending' longer than this: the sender crashed
    restore_gateway_check_s: float = Field(
        86400.0,
        ge=0,
        description="for this long after a database restore (`make restore`), every SMS is"
        " looked up in the gateway's records before it is handed over, and not sent again if"
        " the gateway already took it (the replay catches up well within it)",
    )
    receipt_timeout_h: float = 72.0  # submitted without a final receipt: expired
    receipt_overdue_min: float = Field(
        60.0,
        description="submitted longer than this without a final receipt: counted in"
        " notifications_sms_receipt_overdue",
    )
    # --- rules
    phone_region: str = "CN"
    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)
    daily_cap_per_patient: int = 3
    sms_max_segments: int = Field(
        10,
        ge=1,
        le=255,
        description="the longest SMS, in parts: the gateway's max-messages (Kannel sends the"
        " first parts of a longer one and says nothing); a longer one fails as too_long, a"
        " digest by SMS holds the notes that fit, a template that does not fit is refused",
    )
    reminder_mode: ReminderMode = "evening_before"  # or lead_time: reminder_lead_h before
    reminder_evening_time: time = time(18, 0)
    reminder_lead_h: float = 24.0  # reminder_mode=lead_time
    reminder_min_lead_min: float = 60.0  # no reminder when the visit is sooner than this
    discharge_notice_delay_min: float = 60.0
    message_validity_h: float = 48.0
    survey_task_kinds: tuple[str, ...] = (
        TaskKind.INPATIENT_DISCHARGE.value,
        TaskKind.OUTPATIENT_VISIT.value,
    )
    opt_out_keywords: tuple[str, ...] = ("STOP", "退订", "TD", "T", "UNSUBSCRIBE", "取消订阅")
    opt_in_keywords: tuple[str, ...] = ("START", "订阅")
    # --- staff channels (the inbox always; these where available, unless a preference says)
    staff_channels: tuple[str, ...] = ("sms", "email", "webhook")
    quiet_hours_channels: tuple[str, ...] = ("sms",)  # email and webhooks do not wake anyone
    smtp_host: str = ""  # empty: no email channel
    smtp_port: int = 25
    smtp_security: str = "none"  # none | starttls | tls (implicit TLS, port 465)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_validate_certs: bool = True
    smtp_timeout_s: float = 10.0
    email_from: str = "notifications@hospital.example"
    webhook_timeout_s: float = 5.0
    # --- the digest of routine assignments (breaches and warnings always go at once)
    digest_templates: tuple[str, ...] = ("staff_task_assigned", "staff_case_assigned")
    digest_channels: tuple[str, ...] = ("sms", "email", "webhook")  # (): no digest
    digest_times: tuple[time, ...] = (time(8, 30),)  # hospital-local
    # per channel, e.g. {"email": ["08:00", "13:30"]}; others use digest_times
    digest_times_by_channel: dict[str, tuple[time, ...]] = Field(default_factory=dict)
    digest_max_items: int = 20
    digest_interval_s: float = 5.0
    # --- retention (notifications/retention.py): finished messages, patients no longer
    # reported, inbound SMS and withdrawn subjects older than this go; opt-outs stay
    retention_days: int = Field(
        2 * 365 + 1,
        ge=1,
        description="days finished messages and contact data are kept (2 years with a 29 February)",
    )
    retention_interval_s: float = 6 * 3600.0
    retention_batch_size: int = Field(5000, ge=1)
    # --- the duty rota (notifications/duty_rota.py): the longest shift operations may enter
    duty_shift_max_hours: float = Field(
        24.0,
        gt=0,
        le=744,
        description="the longest duty shift (值班) the rota takes, in hours: a longer one is"
        " refused (422) as a likely typo",
    )
    # --- who sees messages that reveal a complaint (notifications/access.py): operations, the
    # staff member a note is for, and the supervisors of this department (the complaint desk,
    # as COMPLAINTS_DESK_DEPARTMENT); other supervisors see a neutral kind without the text
    complaint_desk_department: str = Field(
        "CS", description="department whose supervisors see the messages that reveal a complaint"
    )
    # Whose on-duty supervisor receives Prometheus's alerts from Alertmanager (POST /v1/alerts).
    alert_department: str = "CS"
    # Alerts for operations (label `audience: admin`, e.g. UnusualPatientDataAccess) go to the
    # roster's admin (role `admin`); this staff member instead, when set (an override).
    alert_admin_staff_id: str | None = None
    # --- what templates may quote
    hospital_name: str = "市第一人民医院"
    hotline: str = "12320"
    survey_url: str = "https://survey.hospital.example/s"
    # Staff notifications (SMS, email, WeCom, DingTalk, inbox) end with a link to the console
    # page of their task or case; unset: no link. Unprefixed, as the stack env sets it.
    console_base_url: str = Field(
        "",
        validation_alias=AliasChoices("CONSOLE_BASE_URL"),
        description="the staff console's address as staff reach it (e.g."
        " https://console.hospital.example); staff notifications link to their task or case"
        " there (blank: no link)",
    )

    # --- satisfaction surveys by SMS link (survey_policy.py, survey_api.py): the page is this
    # service's `/s/{token}`, public, behind `survey_link_base` (empty: `public_url` + /s)
    survey_contacts: tuple[str, ...] = Field(
        tuple(kind.value for kind in ContactKind),
        description="contacts that get a survey link by SMS: inpatient_discharge,"
        " outpatient_visit, first_visit, complaint_check (empty: none)",
    )
    survey_delay_h: float = Field(24.0, ge=0, description="after the visit or discharge")
    survey_complaint_check_delay_h: float = Field(
        72.0, ge=0, description="after a complaint is closed (at the latest when its check is due)"
    )
    survey_link_validity_days: float = Field(7.0, gt=0, description="a link answers this long")
    survey_reminder_after_h: float = Field(
        72.0, ge=0, description="one reminder this long after the invitation (0: none)"
    )
    # Reminders are made when due (survey_reminders.py): this often the job looks for those
    # due within the next interval, so none is made after its time.
    survey_reminder_scan_s: float = Field(
        60.0, gt=0, description="how often survey reminders due soon are made"
    )
    # Held, no reminder is made: they wait in their links until a restart without it (the
    # bench's drains hold it, as they hold the SMS dispatcher).
    survey_reminders_paused: bool = Field(
        False, description="make no survey reminder until restarted without it"
    )
    survey_link_base: str = Field("", description="the links' base URL patients open")
    survey_secret: str = "dev-survey-secret"  # makes the links' tokens (HMAC)
    survey_previous_secrets: tuple[str, ...] = Field(
        (),
        description="earlier survey secrets (a JSON list), kept after a rotation while links"
        " made under them may still be sent or answered (their validity, 7 days)",
    )
    survey_rate_per_token: int = Field(20, ge=1, description="requests per link per window")
    survey_rate_per_address: int = Field(120, ge=1, description="requests per address per window")
    survey_rate_window_s: float = Field(600.0, gt=0)
    survey_max_form_bytes: int = Field(16_384, ge=1024, description="largest answer form")

    @field_validator("callback_previous_secrets", "survey_previous_secrets")
    @classmethod
    def _not_public(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        """An earlier secret may not be the public development one: whoever read it here could
        sign receipts or make links that way for as long as it is kept."""
        current = str(info.field_name).removesuffix("_previous_secrets") + "_secret"
        if cls.model_fields[current].default in value or "" in value:
            raise ValueError("holds the public development value or an empty one; drop it")
        return value

    @property
    def callback_secrets(self) -> tuple[str, ...]:
        """The secret receipts are signed with, then those they may still carry."""
        return (self.callback_secret, *self.callback_previous_secrets)

    @property
    def survey_secrets(self) -> tuple[str, ...]:
        """The secret links are made with, then those links made earlier may carry."""
        return (self.survey_secret, *self.survey_previous_secrets)

    @field_validator("callback_allowed_ips")
    @classmethod
    def _addresses_or_ranges(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        ip_networks(value)  # a ValueError names the entry
        return value
