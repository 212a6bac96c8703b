"""Events the complaints service publishes on `complaints.cases.v1`, and the working-day
calendar on `calendar.years.v1` (registered in `hospital_shared.events.EVENT_TYPES`).

Every event carries the case number and the fields other services route and count by
(category, channel, priority, department). Case events carry the patient's id, phone and
opt-out flag only so that the notifications service can text the patient; they never carry
the complaint text, the patient's name or the resolution text (complaints are confidential).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from hospital_shared import topics
from hospital_shared.events import Contract, NonEmpty, register_event

CaseStatus = Literal[
    "received",
    "acknowledged",
    "investigating",
    "resolution_proposed",
    "resolution_approved",
    "communicated",
    "closed",
    "reopened",
    "withdrawn",
    "unfounded",
    "resolution_implemented",
    "summary_signed_off",
]
Priority = Literal["urgent", "high", "normal"]
LimitName = Literal[
    "first_response",
    "complex_answer",
    "fact_finding",
    "imaging_confirmation",
    "satisfaction_check",
    "director_decision",
]


class CasePatient(Contract):
    """What the notifications service needs to text the patient, and nothing more."""

    patient_id: NonEmpty
    phone: str | None = None
    sms_opt_out: bool = False


class CaseTimeLimit(Contract):
    """One time limit of the case's current cycle, as shown on the case."""

    limit: LimitName
    starts_at: AwareDatetime
    due_at: AwareDatetime
    warn_at: AwareDatetime
    settled_at: AwareDatetime | None = None
    # met | late | withdrawn | superseded; None while the clock runs
    outcome: str | None = None


class ComplaintCaseChanged(Contract):
    """A complaint case was opened or moved through its lifecycle.

    Published as `complaint.case_<what>`: opened, acknowledged, investigation_started,
    resolution_proposed, resolution_approved, communicated, closed, reopened, withdrawn,
    assigned; and validity_decided, found_unfounded, resolution_implemented,
    summary_signed_off, escalated, imaging_confirmed, settlement_recorded,
    accountability_recorded.
    """

    case_number: NonEmpty
    status: CaseStatus
    previous_status: CaseStatus | None = None
    cycle: int = 1
    channel: NonEmpty
    category: NonEmpty
    category_source: NonEmpty  # submitted | rule | default
    priority: Priority
    serious: bool
    complex: bool
    department_code: str | None = None
    assignee_id: str | None = None
    supervisor_id: str | None = None
    patient: CasePatient | None = None
    # The first-response time promised to the patient (what an acknowledgement SMS quotes).
    promised_response_by: AwareDatetime | None = None
    resolution_kind: str | None = None
    satisfaction_check_due_at: AwareDatetime | None = None
    time_limits: tuple[CaseTimeLimit, ...] = ()
    actor_id: str | None = None
    actor_role: str | None = None
    # The director (院长/主任) the case is escalated to, who approves its resolution.
    director_id: str | None = None
    # 投诉是否成立: founded | unfounded, once decided.
    validity: Literal["founded", "unfounded"] | None = None
    occurred_at: AwareDatetime


class ComplaintTimeLimitReached(Contract):
    """A case reached 80% (`complaint.time_limit_warning`) or 100%
    (`complaint.time_limit_breached`) of one of its time limits; for the supervisor."""

    case_number: NonEmpty
    limit: LimitName
    level: Literal["warning", "breach"]
    cycle: int
    starts_at: AwareDatetime
    due_at: AwareDatetime
    status: CaseStatus
    channel: NonEmpty
    category: NonEmpty
    priority: Priority
    department_code: str | None = None
    assignee_id: str | None = None
    # Who should hear about it: the case's supervisor, else the complaint desk's supervisor.
    supervisor_id: str | None = None
    supervisor_department: str | None = None
    occurred_at: AwareDatetime


class ComplaintSatisfactionRecorded(Contract):
    """The patient answered the satisfaction check after closing (for complaint-handling
    satisfaction, target >= 98%). A dissatisfied answer also reopens the case."""

    case_number: NonEmpty
    cycle: int
    rating: Literal["satisfied", "fairly_satisfied", "dissatisfied"]
    satisfied: bool
    channel: NonEmpty
    category: NonEmpty
    department_code: str | None = None
    reopened: bool
    on_time: bool
    occurred_at: AwareDatetime


CASE_EVENT_TYPES: tuple[str, ...] = (
    "complaint.case_opened",
    "complaint.case_acknowledged",
    "complaint.case_investigation_started",
    "complaint.case_resolution_proposed",
    "complaint.case_resolution_approved",
    "complaint.case_communicated",
    "complaint.case_closed",
    "complaint.case_reopened",
    "complaint.case_withdrawn",
    "complaint.case_assigned",
)
# The rest of the procedure (issue 21): the validity decision, carrying out the resolution,
# the summary's sign-off, escalation to the director, radiology's confirmation of an imaging
# dispute, and the settlement and accountability records (which the event only announces:
# no sum, no staff member, no measure).
PROCEDURE_EVENT_TYPES: tuple[str, ...] = (
    "complaint.case_validity_decided",
    "complaint.case_found_unfounded",
    "complaint.case_resolution_implemented",
    "complaint.case_summary_signed_off",
    "complaint.case_escalated",
    "complaint.case_imaging_confirmed",
    "complaint.case_settlement_recorded",
    "complaint.case_accountability_recorded",
)

for _type in CASE_EVENT_TYPES + PROCEDURE_EVENT_TYPES:
    register_event(_type, ComplaintCaseChanged, topics.COMPLAINT_CASES)
register_event("complaint.time_limit_warning", ComplaintTimeLimitReached, topics.COMPLAINT_CASES)
register_event("complaint.time_limit_breached", ComplaintTimeLimitReached, topics.COMPLAINT_CASES)
register_event(
    "complaint.satisfaction_recorded", ComplaintSatisfactionRecorded, topics.COMPLAINT_CASES
)


class CalendarYearSaved(Contract):
    """Operations added or replaced a year of the official working-day calendar (the State
    Council's holidays and adjusted working days, 调休) through the complaints service's
    calendar API. Every service that counts working days keeps the year (follow-up does), so
    one call changes the calendar everywhere. Carries no patient data."""

    year: Annotated[int, Field(ge=1900, le=2099)]
    holidays: list[date]
    workdays: list[date]
    source: NonEmpty
    notice: str = ""
    saved_by: NonEmpty


register_event("calendar.year_saved", CalendarYearSaved, topics.CALENDAR)
