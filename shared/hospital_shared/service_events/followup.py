"""Lifecycle events the services publish on their own topics. They live in `shared` because
other services consume them: this is the contract between services."""

from __future__ import annotations

from pydantic import AwareDatetime

from hospital_shared import topics
from hospital_shared.events import Contract, NonEmpty, register_event


class FollowUpTaskPlanned(Contract):
    """A follow-up call (回访) was planned."""

    task_id: NonEmpty
    kind: NonEmpty
    patient_id: NonEmpty
    department_code: NonEmpty
    source_event_id: NonEmpty
    due_at: AwareDatetime
    assignee_id: str | None = None


register_event("followup.task_planned", FollowUpTaskPlanned, topics.FOLLOWUP_TASKS)
