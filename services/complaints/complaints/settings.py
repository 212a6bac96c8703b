"""Settings of the complaints service: shared variables plus `COMPLAINTS_*` ones.

The time limits, the warning threshold, the retention period and who handles what are the
hospital's policy: each has the manuals' default and can be changed per installation.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from complaints.enquiries import EnquiryLimit, default_limits
from complaints.feedback import DEFAULT_PRAISE_CATEGORIES, DEFAULT_SUGGESTION_CATEGORIES
from complaints.policy import LimitRule, default_rules
from hospital_shared import staff_ids
from hospital_shared.settings import service_settings_class
from hospital_shared.vocabulary import ComplaintCategory as _C

_Base = service_settings_class("complaints", 8003)


class StaffSeed(BaseModel):
    staff_id: str
    department_code: str
    role: str


# The development roster (the staff behind the development tokens), seeded only on a development
# or test stack. Production (any ENV but development, dev or test) relies on the follow-up
# service's roster.
DEV_STAFF: list[StaffSeed] = [
    StaffSeed(staff_id="S-SUP-01", department_code="CS", role="supervisor"),
    StaffSeed(staff_id="S-AGENT-01", department_code="CS", role="agent"),
    StaffSeed(staff_id="S-DOC-01", department_code="CARD", role="doctor"),
    # Radiology (放射科) handles imaging disputes; the director (院长) takes escalations.
    StaffSeed(staff_id="S-RAD-01", department_code="RAD", role="doctor"),
    StaffSeed(staff_id="S-DIR-01", department_code="ADM", role="director"),
]


class Settings(_Base):  # type: ignore[misc,valid-type]
    # Time limits (DOMAIN.md): each computed when a case opens and shown on the case.
    first_response_hours: float = 24
    complex_answer_hours: float = 72
    # At least one (zero or fewer would make fact-finding due the moment a case opens), at
    # most a working year (more is a typo).
    fact_finding_working_days: int = Field(4, ge=1, le=250)
    imaging_confirmation_hours: float = 2
    satisfaction_check_days: float = 7
    # From escalation to the director (院长/主任) until the director decides; the manuals set
    # no figure, so two days is ours.
    director_decision_hours: float = Field(48, gt=0)
    warning_fraction: float = Field(0.8, gt=0, lt=1)
    # Categories that make a case serious (to a supervisor at once) or complex (72 h answer).
    serious_categories: list[str] = Field(default_factory=lambda: [_C.MEDICAL_QUALITY.value])
    complex_categories: list[str] = Field(
        default_factory=lambda: [_C.MEDICAL_QUALITY.value, _C.REPORT_ERROR.value]
    )
    # The complaint desk: handles cases whose department has no handler on the roster, and
    # its supervisor hears about every time-limit warning and breach without one.
    desk_department: str = "CS"
    case_number_prefix: str = "TS"
    # Serious cases and these categories (medical disputes) are decided by the director.
    director_categories: list[str] = Field(default_factory=lambda: [_C.MEDICAL_QUALITY.value])
    # Imaging disputes are handled, and confirmed within the limit, by this department.
    radiology_department: str = "RAD"
    # A complaint recorded late (taken on paper, from the suggestion box) keeps the day it was
    # lodged; one lodged longer ago than this is refused (422 naming `submitted_at`; such a
    # `complaint.submitted` event is dead-lettered with the reason). A year: a letter found in
    # the suggestion box weeks late is still recorded on its day; 1900 or a wrong year is not.
    oldest_submission_days: float = Field(
        366,
        gt=0,
        le=3660,
        description="how many days ago a complaint's submitted_at may lie (older: refused)",
    )
    # None: DEV_STAFF on a development or test stack, nobody in production.
    seed_staff: list[StaffSeed] | None = Field(
        None,
        description="the members put on the roster at start (a JSON list); each staff_id is "
        "held to the staff id syntax as a save holds a new one (full-width taken as ASCII): "
        "one that does not fit stops the start, naming it",
    )
    # Timers: how often a pass runs and how many deadlines one pass takes.
    timer_interval_s: float = 5.0
    timer_batch_size: int = 200
    # While a backlog of complaints is being opened, the timer pauses this long between
    # passes, so the openings come first.
    timer_pause_while_draining_s: float = 0.5
    # How often each instance rereads the working-day calendar years saved by operations (an
    # instance that took the API call has the year at once).
    calendar_reload_interval_s: float = 60.0
    # A desk opening uses two short-lived connections (the case number, then the case).
    db_pool_max: int = 10
    # Every event this service publishes has a random id (`publishing.outgoing`): nothing adds
    # one again, so a published event is deleted from the outbox at once instead of marked.
    # Measured on a 45,000-complaint drain, in three interleaved pairs: 6,846/s on average
    # with the delete, 6,020/s with the mark.
    outbox_keep_published_s: float = Field(
        0.0,
        ge=0,
        description="how long a published event stays in the outbox, where adding its id again is a no-op (0: deleted once published; only where event ids are random)",
    )
    # A backlog's batch is opened in three transactions at once (by partition): while one waits
    # on PostgreSQL another classifies and builds its cases. Measured on the bench drain:
    # 2,343-2,981 complaints/s with 1, 3,076-3,834/s with 2; later, in four back-to-back
    # pairs of 2 and 3: 3,882/s on average with 2, 4,175/s with 3 (4 was no better than 3).
    consumer_concurrency: int = Field(
        3, ge=1, le=8, description="transactions a batch is split into (by partition), run at once"
    )
    # The registrations are read only for the patient merges among them: the broker may hold
    # each fetch of them this long (0: answer as soon as a record is there), so a busy topic is
    # fetched a few times a second instead of once for every record or two. At 1,000 events/s
    # complaints used 0.096-0.099 instead of 0.13-0.16 ms of CPU an input event (issue 22,
    # docs/bench.md session 24). A merge reaches the cases up to this much later.
    merges_fetch_wait_ms: int = Field(
        200,
        ge=0,
        le=5000,
        description="how long a fetch of the registrations (read for merges) may wait",
    )
    # Retention: finished (closed or withdrawn) cases older than this are purged.
    retention_days: int = 3 * 365 + 1
    purge_interval_s: float = 6 * 3600
    # Enquiries (咨询, DOMAIN.md): answered within 24 h, complex ones within 48 h; on site,
    # ordinary ones within 30 minutes, complex ones within 2 hours. Warning and breach at the
    # same fractions as complaints; the timer runs every `timer_interval_s`.
    enquiry_answer_hours: float = Field(24, gt=0)
    enquiry_complex_answer_hours: float = Field(48, gt=0)
    enquiry_onsite_minutes: float = Field(30, gt=0)
    enquiry_onsite_complex_minutes: float = Field(120, gt=0)
    enquiry_number_prefix: str = "ZX"
    # Praise (表扬) and suggestion (建议) categories; anything else is filed as "other".
    praise_categories: list[str] = Field(default_factory=lambda: list(DEFAULT_PRAISE_CATEGORIES))
    suggestion_categories: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SUGGESTION_CATEGORIES)
    )
    feedback_number_prefix: str = "FK"

    @field_validator("seed_staff")
    @classmethod
    def _seed_ids_are_staff_ids(cls, value: list[StaffSeed] | None) -> list[StaffSeed] | None:
        setting = f"{cls.model_config['env_prefix']}SEED_STAFF"
        if value is None:
            return None
        return [m.model_copy(update={"staff_id": staff_ids.seeded(m.staff_id, setting)})
                for m in value]  # fmt: skip

    def staff_to_seed(self) -> list[StaffSeed]:
        if self.seed_staff is not None:
            return self.seed_staff
        return list(DEV_STAFF) if self.development_stack else []

    def limit_rules(self) -> tuple[LimitRule, ...]:
        return default_rules(
            first_response_hours=self.first_response_hours,
            complex_answer_hours=self.complex_answer_hours,
            fact_finding_working_days=self.fact_finding_working_days,
            imaging_confirmation_hours=self.imaging_confirmation_hours,
            satisfaction_check_days=self.satisfaction_check_days,
            director_decision_hours=self.director_decision_hours,
        )

    def enquiry_limits(self) -> tuple[EnquiryLimit, ...]:
        return default_limits(
            answer_hours=self.enquiry_answer_hours,
            complex_answer_hours=self.enquiry_complex_answer_hours,
            onsite_minutes=self.enquiry_onsite_minutes,
            onsite_complex_minutes=self.enquiry_onsite_complex_minutes,
        )
