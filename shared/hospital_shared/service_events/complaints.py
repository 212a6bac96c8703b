"""Events the complaints service publishes on `complaints.cases.v1`, and the working-day
calendar on `calendar.years.v1` (registered in `hospital_shared.events.EVENT_TYPES`).

Every event carries the case number and the fields other services route and count by
(category, channel, priority, department). Case events carry the patient's id, phone and
opt-out flag only so that the notifications service can text the patient; they never carry
the complaint text, the patient's name or the resolution text (complaints are confidential).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AwareDatetime, Field

from hospital_shared import topics
from hospital_shared.events import Contract, NonEmpty, register_event
from hospital_shared.vocabulary import (
    CaseLimit,
    ComplaintCategory,
    EventName,
    LimitLevel,
    LimitOutcome,
    Satisfaction,
    Validity,
)
from hospital_shared.vocabulary import CaseStatus as CaseStatus
from hospital_shared.vocabulary import Priority as Priority

LimitName = CaseLimit  # named here as it always was; defined in the vocabulary


class CasePatient(Contract):
    """What the notifications service needs to text the patient, and nothing more. No
    `patient_id` for a complainant the hospital has no id for (a relative, a visitor): the
    phone is then all there is to answer them on."""

    patient_id: NonEmpty | None = None
    phone: str | None = None
    sms_opt_out: bool = False


class CaseTimeLimit(Contract):
    """One time limit of the case's current cycle, as shown on the case."""

    limit: LimitName
    starts_at: AwareDatetime
    due_at: AwareDatetime
    warn_at: AwareDatetime
    settled_at: AwareDatetime | None = None
    outcome: LimitOutcome | None = None  # None while the clock runs


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
    category: ComplaintCategory
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
    validity: Validity | None = None
    occurred_at: AwareDatetime


class ComplaintTimeLimitReached(Contract):
    """A case reached 80% (`complaint.time_limit_warning`) or 100%
    (`complaint.time_limit_breached`) of one of its time limits; for the supervisor."""

    case_number: NonEmpty
    limit: LimitName
    level: LimitLevel
    cycle: int
    starts_at: AwareDatetime
    due_at: AwareDatetime
    status: CaseStatus
    channel: NonEmpty
    category: ComplaintCategory
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
    rating: Satisfaction
    satisfied: bool
    channel: NonEmpty
    category: ComplaintCategory
    department_code: str | None = None
    reopened: bool
    on_time: bool
    occurred_at: AwareDatetime


CASE_EVENT_TYPES: tuple[EventName, ...] = (
    EventName.CASE_OPENED,
    EventName.CASE_ACKNOWLEDGED,
    EventName.CASE_INVESTIGATION_STARTED,
    EventName.CASE_RESOLUTION_PROPOSED,
    EventName.CASE_RESOLUTION_APPROVED,
    EventName.CASE_COMMUNICATED,
    EventName.CASE_CLOSED,
    EventName.CASE_REOPENED,
    EventName.CASE_WITHDRAWN,
    EventName.CASE_ASSIGNED,
)
# The rest of the procedure (issue 21): the validity decision, carrying out the resolution,
# the summary's sign-off, escalation to the director, radiology's confirmation of an imaging
# dispute, and the settlement and accountability records (which the event only announces:
# no sum, no staff member, no measure).
PROCEDURE_EVENT_TYPES: tuple[EventName, ...] = (
    EventName.CASE_VALIDITY_DECIDED,
    EventName.CASE_FOUND_UNFOUNDED,
    EventName.CASE_RESOLUTION_IMPLEMENTED,
    EventName.CASE_SUMMARY_SIGNED_OFF,
    EventName.CASE_ESCALATED,
    EventName.CASE_IMAGING_CONFIRMED,
    EventName.CASE_SETTLEMENT_RECORDED,
    EventName.CASE_ACCOUNTABILITY_RECORDED,
)

for _type in CASE_EVENT_TYPES + PROCEDURE_EVENT_TYPES:
    register_event(_type, ComplaintCaseChanged, topics.COMPLAINT_CASES)
register_event(EventName.CASE_TIME_LIMIT_WARNING, ComplaintTimeLimitReached, topics.COMPLAINT_CASES)
register_event(
    EventName.CASE_TIME_LIMIT_BREACHED, ComplaintTimeLimitReached, topics.COMPLAINT_CASES
)
register_event(
    EventName.CASE_SATISFACTION_RECORDED, ComplaintSatisfactionRecorded, topics.COMPLAINT_CASES
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


register_event(EventName.CALENDAR_YEAR_SAVED, CalendarYearSaved, topics.CALENDAR)
