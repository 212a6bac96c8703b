"""Events the complaints service publishes about enquiries (咨询) and about praise and
suggestions (表扬、建议), on `complaints.cases.v1` next to the case events.

Like the case events they carry what other services route and count by (channel, department,
owner, limit, outcome), never the enquiry's or the feedback's text or the patient's details.
"""

from __future__ import annotations

from pydantic import AwareDatetime

from hospital_shared import topics
from hospital_shared.events import Contract, NonEmpty, register_event
from hospital_shared.vocabulary import EnquiryChannel as EnquiryChannel
from hospital_shared.vocabulary import (
    EnquiryLimit,
    EventName,
    FeedbackKind,
    LimitLevel,
    SuggestionOutcome,
)
from hospital_shared.vocabulary import EnquiryStatus as EnquiryStatus
from hospital_shared.vocabulary import FeedbackChannel as FeedbackChannel

EnquiryLimitName = EnquiryLimit  # named here as it always was; defined in the vocabulary


class EnquiryChanged(Contract):
    """An enquiry was taken, handed over, answered or turned into a complaint.

    Published as `enquiry.<what>`: taken, handed_over, answered, converted."""

    enquiry_number: NonEmpty
    status: EnquiryStatus
    channel: EnquiryChannel
    complex: bool
    department_code: str | None = None
    # The member of staff who owns it now (首问负责: whoever took it, until handed over). None:
    # its owner left (or may no longer hold it) and nobody active could take it over; the
    # supervisors of its departments see it.
    owner_id: NonEmpty | None
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
    level: LimitLevel
    starts_at: AwareDatetime
    due_at: AwareDatetime
    channel: EnquiryChannel
    complex: bool
    department_code: str | None = None
    owner_id: NonEmpty | None  # None: nobody active could take it over (`EnquiryChanged`)
    # Who should hear about it: the enquiry's supervisor, else the complaint desk's.
    supervisor_id: str | None = None
    supervisor_department: str | None = None
    occurred_at: AwareDatetime


class FeedbackReceived(Contract):
    """Praise (`feedback.praise_received`) or a suggestion (`feedback.suggestion_received`)
    was recorded. Praise goes to the department of the staff member praised."""

    feedback_number: NonEmpty
    kind: FeedbackKind
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
    outcome: SuggestionOutcome
    answered_by: NonEmpty
    occurred_at: AwareDatetime


ENQUIRY_EVENT_TYPES: tuple[EventName, ...] = (
    EventName.ENQUIRY_TAKEN,
    EventName.ENQUIRY_HANDED_OVER,
    EventName.ENQUIRY_ANSWERED,
    EventName.ENQUIRY_CONVERTED,
)

for _type in ENQUIRY_EVENT_TYPES:
    register_event(_type, EnquiryChanged, topics.COMPLAINT_CASES)
register_event(
    EventName.ENQUIRY_TIME_LIMIT_WARNING, EnquiryTimeLimitReached, topics.COMPLAINT_CASES
)
register_event(
    EventName.ENQUIRY_TIME_LIMIT_BREACHED, EnquiryTimeLimitReached, topics.COMPLAINT_CASES
)
register_event(EventName.PRAISE_RECEIVED, FeedbackReceived, topics.COMPLAINT_CASES)
register_event(EventName.SUGGESTION_RECEIVED, FeedbackReceived, topics.COMPLAINT_CASES)
register_event(EventName.SUGGESTION_ANSWERED, SuggestionAnswered, topics.COMPLAINT_CASES)
