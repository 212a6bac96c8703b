"""Events the complaints service publishes about enquiries (咨询) and about praise and
suggestions (表扬、建议), on `complaints.cases.v1` next to the case events.

Like the case events they carry what other services route and count by (channel, department,
owner, limit, outcome), never the enquiry's or the feedback's text or the patient's details.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from hospital_shared import topics
from hospital_shared.events import Contract, NonEmpty, register_event

EnquiryChannel = Literal["phone", "onsite", "online"]
EnquiryStatus = Literal["open", "answered", "converted"]
EnquiryLimitName = Literal["answer", "complex_answer", "onsite_answer", "onsite_complex_answer"]
FeedbackChannel = Literal["phone", "onsite", "online", "followup", "suggestion_box"]


class EnquiryChanged(Contract):
    """An enquiry was taken, handed over, answered or turned into a complaint.

    Published as `enquiry.<what>`: taken, handed_over, answered, converted."""

    enquiry_number: NonEmpty
    status: EnquiryStatus
    channel: EnquiryChannel
    complex: bool
    department_code: str | None = None
    # The member of staff who owns it now (首问负责: whoever took it, until handed over).
    owner_id: NonEmpty
    # The owner's department: who answers for it (the KPI's department when none was asked about).
    owner_department: str | None = None
    previous_owner_id: str | None = None
    taken_by: NonEmpty
    supervisor_id: str | None = None
    limit: EnquiryLimitName
    starts_at: AwareDatetime
    due_at: AwareDatetime
    answered_at: AwareDatetime | None = None
    answered_in_time: bool | None = None
    # The complaint case it became (`enquiry.converted`).
    case_number: str | None = None
    actor_id: str | None = None
    actor_role: str | None = None
    occurred_at: AwareDatetime


class EnquiryTimeLimitReached(Contract):
    """An open enquiry reached 80% (`enquiry.time_limit_warning`) or 100%
    (`enquiry.time_limit_breached`, the escalation) of its limit; for the supervisor."""

    enquiry_number: NonEmpty
    limit: EnquiryLimitName
    level: Literal["warning", "breach"]
    starts_at: AwareDatetime
    due_at: AwareDatetime
    channel: EnquiryChannel
    complex: bool
    department_code: str | None = None
    owner_id: NonEmpty
    # Who should hear about it: the enquiry's supervisor, else the complaint desk's.
    supervisor_id: str | None = None
    supervisor_department: str | None = None
    occurred_at: AwareDatetime


class FeedbackReceived(Contract):
    """Praise (`feedback.praise_received`) or a suggestion (`feedback.suggestion_received`)
    was recorded. Praise goes to the department of the staff member praised."""

    feedback_number: NonEmpty
    kind: Literal["praise", "suggestion"]
    channel: FeedbackChannel
    category: NonEmpty
    department_code: str | None = None
    # The member of staff praised, when the patient named one.
    staff_id: str | None = None
    recorded_by: NonEmpty
    occurred_at: AwareDatetime


class SuggestionAnswered(Contract):
    """A suggestion got its answer and outcome (`feedback.suggestion_answered`)."""

    feedback_number: NonEmpty
    channel: FeedbackChannel
    category: NonEmpty
    department_code: str | None = None
    outcome: Literal["adopted", "not_adopted"]
    answered_by: NonEmpty
    occurred_at: AwareDatetime


ENQUIRY_EVENT_TYPES: tuple[str, ...] = (
    "enquiry.taken",
    "enquiry.handed_over",
    "enquiry.answered",
    "enquiry.converted",
)

for _type in ENQUIRY_EVENT_TYPES:
    register_event(_type, EnquiryChanged, topics.COMPLAINT_CASES)
register_event("enquiry.time_limit_warning", EnquiryTimeLimitReached, topics.COMPLAINT_CASES)
register_event("enquiry.time_limit_breached", EnquiryTimeLimitReached, topics.COMPLAINT_CASES)
register_event("feedback.praise_received", FeedbackReceived, topics.COMPLAINT_CASES)
register_event("feedback.suggestion_received", FeedbackReceived, topics.COMPLAINT_CASES)
register_event("feedback.suggestion_answered", SuggestionAnswered, topics.COMPLAINT_CASES)
