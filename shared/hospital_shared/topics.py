"""Every Kafka topic of the platform, in one place.

Input topics carry what hospital systems send us; service topics carry each service's own
lifecycle events. Every topic name is versioned; every input topic has a dead-letter topic.
"""

from __future__ import annotations

from dataclasses import dataclass

REGISTRATIONS = "hospital.registrations.v1"
DISCHARGES = "hospital.discharges.v1"
COMPLAINTS_IN = "hospital.complaints.v1"
QUEUE_REPORTS = "hospital.queues.v1"  # registration queue lengths (挂号排队)

FOLLOWUP_TASKS = "followup.tasks.v1"
COMPLAINT_CASES = "complaints.cases.v1"
NOTIFICATIONS = "notifications.messages.v1"
STAFF_ROSTER = "staff.roster.v1"
QUEUE_EPISODES = "metrics.queue-episodes.v1"  # a queue over its limit, opened and closed
CALENDAR = "calendar.years.v1"
SURVEYS = "surveys.answers.v1"  # patients' answers to the survey page of an SMS link
# opt-outs and their withdrawals, read back by notifications itself: a restore replays them
OPT_OUTS = "notifications.opt-outs.v1"
# call opt-outs (a patient asked on a follow-up call not to be called again), read back by
# follow-up itself, as notifications reads back its opt-outs
CALL_OPT_OUTS = "followup.call-opt-outs.v1"

INPUT_TOPICS: tuple[str, ...] = (REGISTRATIONS, DISCHARGES, COMPLAINTS_IN)
INPUT_TOPICS += (QUEUE_REPORTS,)
SERVICE_TOPICS: tuple[str, ...] = (
    FOLLOWUP_TASKS,
    COMPLAINT_CASES,
    NOTIFICATIONS,
    STAFF_ROSTER,
    CALENDAR,
)
SERVICE_TOPICS += (QUEUE_EPISODES,)
SERVICE_TOPICS += (SURVEYS,)
SERVICE_TOPICS += (OPT_OUTS,)
SERVICE_TOPICS += (CALL_OPT_OUTS,)

INPUT_PARTITIONS = 12
SERVICE_PARTITIONS = 12
DLQ_PARTITIONS = 3
# A dead letter is kept longer than the 30 days its replay may take (the consumers' inboxes
# remember an event that long, <SERVICE>_INBOX_KEEP_MIN_DAYS), not Kafka's default 7 days:
# the runbook of EventsDeadLettered gives 30 days to fix the sender and replay it.
DLQ_RETENTION_DAYS = 35
DLQ_CONFIGS: tuple[tuple[str, str], ...] = (
    ("retention.ms", str(DLQ_RETENTION_DAYS * 24 * 3600 * 1000)),
)


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic of `topic`: `hospital.registrations.v1` -> `hospital.registrations.v1.dlq`."""
    return f"{topic}.dlq"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    configs: tuple[tuple[str, str], ...] = ()  # beyond the cluster's defaults


def all_topics() -> list[TopicSpec]:
    """Every topic the platform needs, with its partition count, for creating them up front."""
    specs = [TopicSpec(t, INPUT_PARTITIONS) for t in INPUT_TOPICS]
    specs += [TopicSpec(t, SERVICE_PARTITIONS) for t in SERVICE_TOPICS]
    specs += [
        TopicSpec(dead_letter_topic(t), DLQ_PARTITIONS, DLQ_CONFIGS)
        for t in INPUT_TOPICS + SERVICE_TOPICS
    ]
    return specs
