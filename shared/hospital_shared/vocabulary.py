"""The platform's one vocabulary: every status, priority, category, channel, satisfaction
answer, time limit and event type name, as StrEnums. Producers, consumers, the HTTP APIs, the
metrics service and the console import them from here; nothing else in the source tree spells
out a set of these values (`tests/shared/test_vocabulary.py` walks the tree and fails on a
copy).

Why one module: each service had its own copy (complaint statuses as an enum in complaints and
again as literals in the event contract, the categories copied into metrics, two satisfaction
enums and a table of eleven spellings in metrics), and the copies drifted.

**One wire spelling per value: lower-case ASCII snake_case.** Every value that travels (in an
event, an HTTP body or query, a database column, a Prometheus label) is an identifier, never
display text. The satisfaction scale used to be spelt 满意 / 基本满意 / 不满意 by follow-up
and the survey page, and satisfied / fairly_satisfied / dissatisfied by complaints and metrics;
it is `satisfied`, `fairly_satisfied`, `dissatisfied` now, because every other enum on the wire
is ASCII snake_case, Prometheus labels and URLs carry it without escaping, and what a person
reads comes from the console's message catalogue and the survey page, in the reader's language
(`Satisfaction.label_zh` is the hospitals' own wording).

**Compatibility window (one release):** the Chinese spellings are still accepted wherever a
`Satisfaction` is parsed (`Satisfaction("满意") is Satisfaction.SATISFIED`), so a client, the
console of the previous release, a follow-up event or survey answer still in flight, and a
value stored before the change all keep working; they are never written any more. Likewise the
event types renamed to the one pattern (`RENAMED_EVENT_TYPES`) are read under their old name
(`hospital_shared.codec` takes the old name as the new one) and published only under the new.
Both windows last one release: the release that ships this change reads the old forms, the
next one deletes `LEGACY_SATISFACTION` and `RENAMED_EVENT_TYPES`.

Event type names follow one pattern, `<area>.<fact_in_snake_case>` (`EVENT_TYPE_PATTERN`):
one dot, the area a noun, the fact past tense (`followup.task_completed`).
"""

from __future__ import annotations

import re
from enum import StrEnum


class Satisfaction(StrEnum):
    """The hospitals' satisfaction scale (满意 / 基本满意 / 不满意), for calls, surveys and the
    complaint satisfaction check alike."""

    SATISFIED = "satisfied"
    FAIRLY_SATISFIED = "fairly_satisfied"
    DISSATISFIED = "dissatisfied"

    @classmethod
    def _missing_(cls, value: object) -> Satisfaction | None:
        """The spellings of the previous release (the compatibility window)."""
        return LEGACY_SATISFACTION.get(str(value).strip()) if isinstance(value, str) else None

    @property
    def positive(self) -> bool:
        """Counts as satisfied in the satisfaction rates (满意 and 基本满意)."""
        return self is not Satisfaction.DISSATISFIED

    @property
    def label_zh(self) -> str:
        return _SATISFACTION_ZH[self]


_SATISFACTION_ZH: dict[Satisfaction, str] = {
    Satisfaction.SATISFIED: "满意",
    Satisfaction.FAIRLY_SATISFIED: "基本满意",
    Satisfaction.DISSATISFIED: "不满意",
}
# Accepted on input until the next release, never written.
LEGACY_SATISFACTION: dict[str, Satisfaction] = {zh: s for s, zh in _SATISFACTION_ZH.items()}


class Aspect(StrEnum):
    """What a satisfaction question is about: the KPIs are computed per aspect."""

    REGISTRATION = "registration"  # 挂号
    GUIDANCE = "guidance"  # 导医
    DOCTOR = "doctor"
    NURSING = "nursing"
    ENVIRONMENT = "environment"
    BILLING = "billing"
    PHARMACY = "pharmacy"
    OVERALL = "overall"
    COMPLAINT_HANDLING = "complaint_handling"  # the post-closure check of a complaint


class SurveyChannel(StrEnum):
    """How a patient's satisfaction answers came: a follow-up call, or the SMS survey link."""

    CALL = "call"
    SMS_LINK = "sms_link"


class ContactKind(StrEnum):
    """The kinds of contact with a questionnaire of their own (survey links, `survey.answered`)."""

    INPATIENT_DISCHARGE = "inpatient_discharge"
    OUTPATIENT_VISIT = "outpatient_visit"
    FIRST_VISIT = "first_visit"
    COMPLAINT_CHECK = "complaint_check"


# --- visits and discharges (input events) ----------------------------------------------


class VisitType(StrEnum):
    FIRST = "first"
    RETURN = "return"


class RegistrationChannel(StrEnum):
    ONSITE = "onsite"
    PHONE = "phone"
    ONLINE = "online"
    APP = "app"
    KIOSK = "kiosk"


class Disposition(StrEnum):
    HOME = "home"
    TRANSFERRED = "transferred"
    AGAINST_MEDICAL_ADVICE = "against_medical_advice"
    DECEASED = "deceased"


# --- complaints (投诉) ------------------------------------------------------------------


class CaseStatus(StrEnum):
    """A complaint case's status, in the order of the lifecycle (the transition table is
    `complaints.domain.TRANSITIONS`). The full procedure (issue 21): an approved resolution is
    carried out (实施处理方案); the supervisor signs off the summary (总结批示) before closing;
    an unfounded complaint (投诉不成立) is closed once the misunderstanding is cleared up
    (消除误会)."""

    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    RESOLUTION_PROPOSED = "resolution_proposed"
    RESOLUTION_APPROVED = "resolution_approved"
    RESOLUTION_IMPLEMENTED = "resolution_implemented"
    COMMUNICATED = "communicated"
    SUMMARY_SIGNED_OFF = "summary_signed_off"
    CLOSED = "closed"
    REOPENED = "reopened"
    UNFOUNDED = "unfounded"
    WITHDRAWN = "withdrawn"


# A finished case: no time limit runs, no step but reopening (closed) is left.
FINISHED_CASE_STATUSES: frozenset[CaseStatus] = frozenset({CaseStatus.CLOSED, CaseStatus.WITHDRAWN})


# A founded case's resolution approved and not closed yet: carried out, communicated, summed up.
RESOLUTION_APPROVED_STATUSES: frozenset[CaseStatus] = frozenset(
    {
        CaseStatus.RESOLUTION_APPROVED,
        CaseStatus.RESOLUTION_IMPLEMENTED,
        CaseStatus.COMMUNICATED,
        CaseStatus.SUMMARY_SIGNED_OFF,
    }
)


class ComplaintCategory(StrEnum):
    STAFF_ATTITUDE = "staff_attitude"
    WAITING_TIME = "waiting_time"
    BILLING = "billing"
    REPORT_ERROR = "report_error"
    MEDICAL_QUALITY = "medical_quality"
    ENVIRONMENT = "environment"
    IMAGING_DISPUTE = "imaging_dispute"
    OTHER = "other"


class Priority(StrEnum):
    URGENT = "urgent"  # serious: a supervisor handles it at once
    HIGH = "high"  # complex or time-critical (imaging disputes)
    NORMAL = "normal"


class CaseLimit(StrEnum):
    """A complaint case's time limits."""

    FIRST_RESPONSE = "first_response"
    COMPLEX_ANSWER = "complex_answer"
    FACT_FINDING = "fact_finding"
    IMAGING_CONFIRMATION = "imaging_confirmation"
    SATISFACTION_CHECK = "satisfaction_check"
    DIRECTOR_DECISION = "director_decision"


# The limits with a measured on-time rate (the KPIs; the satisfaction check and the
# director's decision are followed on the case only).
CLOCKED_CASE_LIMITS: tuple[CaseLimit, ...] = (
    CaseLimit.FIRST_RESPONSE,
    CaseLimit.FACT_FINDING,
    CaseLimit.COMPLEX_ANSWER,
    CaseLimit.IMAGING_CONFIRMATION,
)


class LimitOutcome(StrEnum):
    """How a time limit ended: met, late, or stopped (the case withdrawn, or reopened: a new
    cycle's limits supersede it)."""

    MET = "met"
    LATE = "late"
    WITHDRAWN = "withdrawn"
    SUPERSEDED = "superseded"


class LimitLevel(StrEnum):
    """How far a running time limit is: 80% (warning) or past due (breach)."""

    WARNING = "warning"
    BREACH = "breach"


class LimitState(StrEnum):
    """Where a running time limit stands as a screen shows it (a settled one shows its
    LimitOutcome; an enquiry turned into a case shows `converted`, its EnquiryStatus)."""

    RUNNING = "running"
    WARNING = "warning"  # past its warning point (80%), not yet due
    BREACHED = "breached"  # past its due time, still running


# A running limit past its warning point or past due: what a queue filters its cases by.
ALERTED_LIMIT_STATES = (LimitState.WARNING, LimitState.BREACHED)


class Validity(StrEnum):
    """投诉是否成立: the investigation's verdict on the complaint."""

    FOUNDED = "founded"
    UNFOUNDED = "unfounded"


class SystemNote(StrEnum):
    """Notes the complaints service writes on a case itself (escalations, audit trail). Stored
    as written, in English, as they always were; the console shows them in the page's language
    (`note.<name>` in its catalogue), the older records too."""

    DIRECTOR_DECIDES = "serious case or medical dispute: the director decides"
    DISSATISFIED_AT_CHECK = "patient dissatisfied at the satisfaction check"
    HANDLER_DEACTIVATED = "the previous handler was made inactive on the roster"
    NOBODY_TO_TAKE_OVER = (
        "the previous handler was made inactive on the roster; nobody active can take the case"
    )
    REOPENED_WITHOUT_HANDLER = "reopened without an active handler on the roster"
    REOPENED_NOBODY_TO_TAKE_OVER = (
        "reopened without an active handler on the roster; nobody active can take the case"
    )
    SUPERVISOR_INACTIVE = "the previous supervisor is no longer active on the roster"
    NO_SUPERVISOR_TO_TAKE_OVER = (
        "the previous supervisor is no longer active on the roster;"
        " no active supervisor can take the case"
    )
    # A member who stays active but whose new role may not hold the work (an agent made
    # operations; a supervisor made an agent, of what they supervised).
    HANDLER_ROLE_CHANGED = "the previous handler's new role on the roster does not handle it"
    NOBODY_TO_TAKE_OVER_ROLE_CHANGED = (
        "the previous handler's new role on the roster does not handle it;"
        " nobody active can take it"
    )
    SUPERVISOR_ROLE_CHANGED = (
        "the previous supervisor's new role on the roster does not supervise it"
    )
    NO_SUPERVISOR_ROLE_CHANGED = (
        "the previous supervisor's new role on the roster does not supervise it;"
        " no active supervisor can take it"
    )
    # A member who stays active but moves to another department: the work they held for the
    # old one goes back to it (its staff, else the desk's; its supervisor, else the desk's).
    HANDLER_DEPARTMENT_CHANGED = "the previous handler moved to another department on the roster"
    NOBODY_TO_TAKE_OVER_DEPARTMENT_CHANGED = (
        "the previous handler moved to another department on the roster; nobody active can take it"
    )
    SUPERVISOR_DEPARTMENT_CHANGED = (
        "the previous supervisor moved to another department on the roster"
    )
    NO_SUPERVISOR_DEPARTMENT_CHANGED = (
        "the previous supervisor moved to another department on the roster;"
        " no active supervisor can take it"
    )
    # An enquiry handed over by a colleague: its supervisor becomes the new owner's (its
    # department's, else the desk's), as a new enquiry of theirs would have.
    SUPERVISOR_FOLLOWS_OWNER = "handed over: the supervisor is now the new owner's"


class ComplaintChannel(StrEnum):
    PHONE = "phone"
    ONLINE = "online"
    ONSITE = "onsite"
    FOLLOWUP = "followup"


# --- enquiries (咨询), praise and suggestions (表扬、建议) ------------------------------------


class EnquiryStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    CONVERTED = "converted"  # became a complaint case; its history stays there


class EnquiryChannel(StrEnum):
    PHONE = "phone"
    ONSITE = "onsite"
    ONLINE = "online"


class EnquiryLimit(StrEnum):
    ANSWER = "answer"
    COMPLEX_ANSWER = "complex_answer"
    ONSITE_ANSWER = "onsite_answer"
    ONSITE_COMPLEX_ANSWER = "onsite_complex_answer"


class FeedbackKind(StrEnum):
    PRAISE = "praise"
    SUGGESTION = "suggestion"


class FeedbackChannel(StrEnum):
    PHONE = "phone"
    ONLINE = "online"
    ONSITE = "onsite"
    FOLLOWUP = "followup"
    SUGGESTION_BOX = "suggestion_box"


class SuggestionOutcome(StrEnum):
    ADOPTED = "adopted"
    NOT_ADOPTED = "not_adopted"


# The categories of praise and of suggestions a new installation starts with (the complaints
# service's COMPLAINTS_PRAISE_CATEGORIES and COMPLAINTS_SUGGESTION_CATEGORIES; the console's
# form offers these); "other" is always allowed.
PRAISE_CATEGORIES: tuple[str, ...] = (
    "service_attitude",
    "medical_skill",
    "nursing_care",
    "guidance",
    "responsiveness",
)
SUGGESTION_CATEGORIES: tuple[str, ...] = (
    "process",
    "environment",
    "facilities",
    "waiting_time",
    "information",
    "catering",
)
FEEDBACK_OTHER = "other"


# --- follow-up calls (回访) and SMS ---------------------------------------------------------


class TaskStatus(StrEnum):
    """planned (not assigned yet) -> assigned -> completed | unreachable | withdrawn."""

    PLANNED = "planned"
    ASSIGNED = "assigned"
    COMPLETED = "completed"
    UNREACHABLE = "unreachable"
    WITHDRAWN = "withdrawn"


OPEN_TASK_STATUSES: tuple[TaskStatus, ...] = (TaskStatus.PLANNED, TaskStatus.ASSIGNED)


class TaskKind(StrEnum):
    INPATIENT_DISCHARGE = "inpatient_discharge"
    OUTPATIENT_VISIT = "outpatient_visit"
    TRANSFER_CHECK = "transfer_check"
    BEREAVEMENT_CALL = "bereavement_call"
    SECOND_CALL = "second_call"  # 二次回访
    SPOT_CHECK = "spot_check"  # 主管抽查
    NEXT_CALL = "next_call"  # 计划回访


class SmsStatus(StrEnum):
    """What the `sms.*` events say became of a message."""

    SUBMITTED = "submitted"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    SUPPRESSED = "suppressed"


# --- event types ------------------------------------------------------------------------

EVENT_TYPE_PATTERN = re.compile(r"^[a-z]+\.[a-z]+(?:_[a-z]+)*$")


class EventName(StrEnum):
    """Every CloudEvents `type` the platform knows (registered with its model and topic in
    `hospital_shared.events.EVENT_TYPES`)."""

    # input events, from hospital systems
    REGISTRATION_CREATED = "registration.created"
    REGISTRATION_CANCELLED = "registration.cancelled"
    REGISTRATION_NO_SHOW = "registration.no_show"
    PATIENT_DISCHARGED = "patient.discharged"
    DISCHARGE_CANCELLED = "discharge.cancelled"
    COMPLAINT_SUBMITTED = "complaint.submitted"
    FEEDBACK_SUBMITTED = "feedback.submitted"
    QUEUE_REPORTED = "queue.reported"
    PATIENT_DETAILS_UPDATED = "patient.details_updated"
    PATIENT_TRANSFERRED = "patient.transferred"
    PATIENT_MERGED = "patient.merged"
    # follow-up
    TASK_PLANNED = "followup.task_planned"
    TASK_ASSIGNED = "followup.task_assigned"
    TASK_DUE = "followup.task_due"
    TASK_OVERDUE = "followup.task_overdue"
    CALL_RETRY_SCHEDULED = "followup.call_retry_scheduled"
    TASK_UNREACHABLE = "followup.task_unreachable"
    TASK_COMPLETED = "followup.task_completed"
    TASK_WITHDRAWN = "followup.task_withdrawn"
    TASK_TRANSFERRED = "followup.task_transferred"
    TASK_RELEASED = "followup.task_released"
    STAFF_MEMBER_SAVED = "staff.member_saved"
    CALL_OPT_OUT_RECORDED = "followup.call_opt_out_recorded"
    # complaints
    CASE_OPENED = "complaint.case_opened"
    CASE_ACKNOWLEDGED = "complaint.case_acknowledged"
    CASE_INVESTIGATION_STARTED = "complaint.case_investigation_started"
    CASE_RESOLUTION_PROPOSED = "complaint.case_resolution_proposed"
    CASE_RESOLUTION_APPROVED = "complaint.case_resolution_approved"
    CASE_COMMUNICATED = "complaint.case_communicated"
    CASE_CLOSED = "complaint.case_closed"
    CASE_REOPENED = "complaint.case_reopened"
    CASE_WITHDRAWN = "complaint.case_withdrawn"
    CASE_ASSIGNED = "complaint.case_assigned"
    CASE_VALIDITY_DECIDED = "complaint.case_validity_decided"
    CASE_FOUND_UNFOUNDED = "complaint.case_found_unfounded"
    CASE_RESOLUTION_IMPLEMENTED = "complaint.case_resolution_implemented"
    CASE_SUMMARY_SIGNED_OFF = "complaint.case_summary_signed_off"
    CASE_ESCALATED = "complaint.case_escalated"
    CASE_IMAGING_CONFIRMED = "complaint.case_imaging_confirmed"
    CASE_SETTLEMENT_RECORDED = "complaint.case_settlement_recorded"
    CASE_ACCOUNTABILITY_RECORDED = "complaint.case_accountability_recorded"
    CASE_TIME_LIMIT_WARNING = "complaint.time_limit_warning"
    CASE_TIME_LIMIT_BREACHED = "complaint.time_limit_breached"
    CASE_SATISFACTION_RECORDED = "complaint.satisfaction_recorded"
    CALENDAR_YEAR_SAVED = "calendar.year_saved"
    ENQUIRY_TAKEN = "enquiry.taken"
    ENQUIRY_HANDED_OVER = "enquiry.handed_over"
    ENQUIRY_ANSWERED = "enquiry.answered"
    ENQUIRY_CONVERTED = "enquiry.converted"
    ENQUIRY_TIME_LIMIT_WARNING = "enquiry.time_limit_warning"
    ENQUIRY_TIME_LIMIT_BREACHED = "enquiry.time_limit_breached"
    PRAISE_RECEIVED = "feedback.praise_received"
    SUGGESTION_RECEIVED = "feedback.suggestion_received"
    SUGGESTION_ANSWERED = "feedback.suggestion_answered"
    # notifications, surveys, metrics
    SMS_SUBMITTED = "sms.submitted"
    SMS_DELIVERED = "sms.delivered"
    SMS_FAILED = "sms.failed"
    SMS_EXPIRED = "sms.expired"
    SMS_SUPPRESSED = "sms.suppressed"
    OPT_OUT_RECORDED = "sms.opt_out_recorded"
    OPT_OUT_REVOKED = "sms.opt_out_revoked"
    SURVEY_ANSWERED = "survey.answered"
    QUEUE_EPISODE_OPENED = "queue.episode_opened"
    QUEUE_EPISODE_CLOSED = "queue.episode_closed"


# Old name -> new name, read as the new one for one release (`hospital_shared.codec`), so an
# event published under the old name and still in flight is not lost (nor dead-lettered as an
# unknown type). Published under the new name only.
RENAMED_EVENT_TYPES: dict[str, EventName] = {
    "followup.task.due": EventName.TASK_DUE,
    "followup.task.overdue": EventName.TASK_OVERDUE,
}


def current_event_type(type_: str) -> str:
    """The type's name in this release: a renamed type's new name, any other unchanged."""
    return RENAMED_EVENT_TYPES.get(type_, type_)
