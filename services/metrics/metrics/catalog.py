"""Every live metric the metrics service exports: its name, help text and labels.

Labels are bounded by construction (departments, channels, kinds, categories, outcomes,
statuses, templates, ratings, limits); no patient, staff or case id is ever a label.
`docs/metrics.md` documents each name here, and a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

# The only label names a metric of this service may carry.
ALLOWED_LABELS = frozenset(
    {
        "department",
        "channel",
        "kind",
        "category",
        "outcome",
        "status",
        "template",
        "rating",
        "limit",
        "disposition",
        "kpi",
        "group",
        "topic",
        "queue",  # a registration window or department queue: a few dozen per hospital
        "aspect",  # what a satisfaction question is about: nine values (questionnaires.py)
    }
)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    help: str
    labels: tuple[str, ...]


def _c(name: str, help_: str, *labels: str) -> MetricSpec:
    return MetricSpec(f"hospital_{name}", help_, labels)


# Counters (exported with the `_total` suffix). Totals live in the `counter_totals` table.
REGISTRATIONS = _c(
    "registrations", "Outpatient registrations (挂号)", "department", "channel", "kind"
)
REGISTRATION_CANCELLATIONS = _c(
    "registration_cancellations", "Registrations cancelled", "department", "channel"
)
REGISTRATION_NO_SHOWS = _c(
    "registration_no_shows", "Registrations where the patient did not come (爽约)", "department"
)
DISCHARGES = _c("discharges", "Inpatient discharges (出院)", "department", "disposition")
DISCHARGE_CANCELLATIONS = _c("discharge_cancellations", "Discharges cancelled", "department")
COMPLAINTS_SUBMITTED = _c(
    "complaints_submitted", "Complaints received from hospital systems and follow-up", "channel"
)
FOLLOWUP_PLANNED = _c("followup_tasks_planned", "Follow-up tasks planned", "department", "kind")
FOLLOWUP_COMPLETED = _c(
    "followup_tasks_completed",
    "Follow-up calls completed, by outcome",
    "department",
    "kind",
    "outcome",
)
FOLLOWUP_UNREACHABLE = _c(
    "followup_tasks_unreachable",
    "Follow-up tasks closed as unreachable after the last attempt",
    "department",
    "kind",
)
FOLLOWUP_OVERDUE = _c(
    "followup_tasks_overdue", "Follow-up tasks that became overdue", "department", "kind"
)
FOLLOWUP_WITHDRAWN = _c(
    "followup_tasks_withdrawn",
    "Follow-up tasks withdrawn (cancellation, no-show)",
    "department",
    "kind",
)
SATISFACTION_ANSWERS = _c(
    "satisfaction_answers",
    "Satisfaction answers in follow-up calls",
    "department",
    "kind",
    "rating",
)
SURVEYS_ANSWERED = _c(
    "surveys_answered", "Satisfaction surveys answered by SMS link", "department", "kind"
)
ASPECT_ANSWERS = _c(
    "aspect_answers",
    "Satisfaction answers by aspect (registration, guidance, doctor ...), calls and surveys",
    "aspect",
    "channel",
    "rating",
)
COMPLAINTS = _c("complaints", "Complaint cases opened", "department", "category", "channel")
COMPLAINT_TRANSITIONS = _c(
    "complaint_transitions", "Complaint case lifecycle steps, by the state reached", "status"
)
COMPLAINT_WARNINGS = _c(
    "complaint_time_limit_warnings", "Complaint time limits at 80%", "department", "limit"
)
COMPLAINT_BREACHES = _c(
    "complaint_time_limit_breaches", "Complaint time limits breached", "department", "limit"
)
COMPLAINT_SATISFACTION = _c(
    "complaint_satisfaction_answers",
    "Complaint-handling satisfaction answers",
    "department",
    "rating",
)
SMS = _c("sms_messages", "Patient SMS, each counted once per status reached", "template", "status")
EVENTS_COUNTED = _c(
    "metrics_events_counted", "Events counted into the KPI store, by type", "topic", "kind"
)

# Enquiries (咨询) and praise and suggestions (表扬、建议).
ENQUIRIES = _c("enquiries", "Enquiries taken (咨询)", "channel", "department")
ENQUIRIES_ANSWERED = _c(
    "enquiries_answered",
    "Enquiries answered, in time or late (outcome)",
    "channel",
    "department",
    "outcome",
)
ENQUIRY_ALERTS = _c(
    "enquiry_time_limit_alerts",
    "Enquiry time limits at 80% (warned) and 100% (escalated to the supervisor)",
    "channel",
    "department",
    "outcome",
)
FEEDBACK = _c(
    "feedback", "Praise (表扬) and suggestions (建议) received", "kind", "channel", "department"
)
SUGGESTIONS_ANSWERED = _c(
    "suggestions_answered", "Suggestions answered, adopted or not", "department", "outcome"
)
# The complaint procedure's records (issue 21), counted as the events come.
COMPLAINT_PROCEDURE = _c(
    "complaint_procedure_records",
    "Complaint procedure records: validity decisions (founded, unfounded), unfounded cases"
    " closed, director escalations, radiology confirmations, settlements, accountability",
    "department",
    "kind",
)

COUNTERS: tuple[MetricSpec, ...] = (
    REGISTRATIONS,
    REGISTRATION_CANCELLATIONS,
    REGISTRATION_NO_SHOWS,
    DISCHARGES,
    DISCHARGE_CANCELLATIONS,
    COMPLAINTS_SUBMITTED,
    FOLLOWUP_PLANNED,
    FOLLOWUP_COMPLETED,
    FOLLOWUP_UNREACHABLE,
    FOLLOWUP_OVERDUE,
    FOLLOWUP_WITHDRAWN,
    SATISFACTION_ANSWERS,
    SURVEYS_ANSWERED,
    ASPECT_ANSWERS,
    COMPLAINTS,
    COMPLAINT_TRANSITIONS,
    COMPLAINT_WARNINGS,
    COMPLAINT_BREACHES,
    COMPLAINT_SATISFACTION,
    SMS,
    EVENTS_COUNTED,
    ENQUIRIES,
    ENQUIRIES_ANSWERED,
    ENQUIRY_ALERTS,
    FEEDBACK,
    SUGGESTIONS_ANSWERED,
    COMPLAINT_PROCEDURE,
)

# Gauges, recomputed from the store on every refresh.
FOLLOWUP_OPEN = _c("followup_tasks_open", "Follow-up tasks open now", "department", "kind")
FOLLOWUP_OVERDUE_NOW = _c(
    "followup_tasks_overdue_open",
    "Open follow-up tasks past their due time now",
    "department",
    "kind",
)
COMPLAINTS_OPEN = _c(
    "complaints_open", "Complaint cases not closed nor withdrawn", "department", "category"
)
KPI_VALUE = _c("kpi_value", "KPI value over the rolling alert window (0..1)", "kpi")
KPI_NUMERATOR = _c("kpi_numerator", "KPI numerator over the rolling alert window", "kpi")
KPI_DENOMINATOR = _c("kpi_denominator", "KPI denominator over the rolling alert window", "kpi")
KPI_PENDING = _c(
    "kpi_pending",
    "KPI cohort members whose window is still open (not in the value) over the alert window",
    "kpi",
)
KPI_TARGET = _c("kpi_target", "KPI target (0..1); see hospital_kpi_target_is_minimum", "kpi")
KPI_TARGET_IS_MINIMUM = _c(
    "kpi_target_is_minimum",
    "1 when the KPI must stay at or above its target, 0 when at or below",
    "kpi",
)
CONSUMER_GROUP_LAG = _c(
    "consumer_group_lag",
    "Records not yet committed per consumer group and topic, seen from Kafka (every service)",
    "group",
    "topic",
)
STORE_REFRESH_AGE = _c(
    "metrics_store_refresh_age_seconds",
    "Seconds since the live values were last read from the store",
)
BACKUP_LAST_SUCCESS = _c(
    "backup_last_success_timestamp_seconds",
    "When the newest backup that passed its check was taken (Unix time; 0: none yet)",
)

GAUGES: tuple[MetricSpec, ...] = (
    FOLLOWUP_OPEN,
    FOLLOWUP_OVERDUE_NOW,
    COMPLAINTS_OPEN,
    KPI_VALUE,
    KPI_NUMERATOR,
    KPI_DENOMINATOR,
    KPI_PENDING,
    KPI_TARGET,
    KPI_TARGET_IS_MINIMUM,
    CONSUMER_GROUP_LAG,
    STORE_REFRESH_AGE,
    BACKUP_LAST_SUCCESS,
)

# Registration queues (挂号排队).
QUEUE_EPISODES = _c(
    "registration_queue_episodes",
    "Episodes of a registration queue above its limit (挂号排队超过8人)",
    "department",
    "queue",
)
QUEUE_LENGTH = _c(
    "registration_queue_length",
    "People waiting in a registration queue, as last reported",
    "department",
    "queue",
)
QUEUE_OVER_LIMIT = _c(
    "registration_queue_over_limit",
    "1 while a registration queue is in an episode above its limit, else 0",
    "department",
    "queue",
)
COUNTERS += (QUEUE_EPISODES,)
GAUGES += (QUEUE_LENGTH, QUEUE_OVER_LIMIT)

BY_NAME: dict[str, MetricSpec] = {m.name: m for m in COUNTERS + GAUGES}
