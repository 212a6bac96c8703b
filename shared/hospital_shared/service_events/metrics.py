"""Events the metrics service publishes: a registration queue's episodes over its limit.

A hospital system reports queue lengths (`queue.reported`); the metrics service keeps each
queue's episode (open above `METRICS_QUEUE_ALERT_ABOVE`, closed at or below
`METRICS_QUEUE_CLEAR_AT`) and tells once per episode, so the notifications service can tell
the supervisor at once (挂号排队超过8人以上，应及时汇报), once, not on every report.
"""

from __future__ import annotations

from pydantic import AwareDatetime

from hospital_shared import topics
from hospital_shared.events import Contract, NonEmpty, register_event
from hospital_shared.vocabulary import EventName


class _QueueEpisode(Contract):
    episode_id: NonEmpty
    queue_id: NonEmpty
    department_code: NonEmpty
    queue_name: str | None = None
    limit: int  # the alert limit in force: above it the episode opened
    opened_at: AwareDatetime
    max_length: int


class QueueEpisodeOpened(_QueueEpisode):
    """A queue went above its limit: `length` at that report."""

    length: int


class QueueEpisodeClosed(_QueueEpisode):
    """The queue fell to or below the clearing threshold: how long and how long it was."""

    closed_at: AwareDatetime
    duration_s: float
    length: int


register_event(EventName.QUEUE_EPISODE_OPENED, QueueEpisodeOpened, topics.QUEUE_EPISODES)
register_event(EventName.QUEUE_EPISODE_CLOSED, QueueEpisodeClosed, topics.QUEUE_EPISODES)
