"""Which events notifications' consumer hands to its handlers (`EventHandlers.acts_on`): an
event it skips gets no inbox row, so skipping one that had an effect would lose it. Every
event type of the contract, with and without an assignee, is checked against `effects`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hospital_shared.events import make_event
from hospital_shared.schemas import _EXAMPLES, example_event
from hospital_shared.service_events.followup import (
    FollowUpTaskAssigned,
    FollowUpTaskDue,
    FollowUpTaskPlanned,
)
from notifications.domain import QuietHours
from notifications.handlers import EventHandlers
from notifications.plan_writer import Effects
from notifications.policy import Plan, PlanningRules

NOW = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def _handlers() -> EventHandlers:
    rules = PlanningRules(
        tz=ZoneInfo("Asia/Shanghai"),
        common={"hospital": "市一院", "hotline": "12320", "survey_url": "https://s.example"},
    )
    return EventHandlers(rules, QuietHours(), clock=lambda: NOW)


def _task(type_: str, model: Any, **fields: Any) -> Any:
    data = model(
        task_id="FU-1", kind="inpatient_discharge", patient_id="P1", department_code="CARD",
        due_at=NOW, **fields,
    )  # fmt: skip
    return make_event(type_, data, source="urn:test", subject="P1", time=NOW)


def _events() -> list[Any]:
    """The input contract's examples, and the task events with and without an assignee."""
    return [example_event(t) for t in _EXAMPLES] + [
        _task("followup.task_planned", FollowUpTaskPlanned, source_event_id="e1"),
        _task("followup.task_planned", FollowUpTaskPlanned, source_event_id="e1",
              assignee_id="S-AGENT-01"),
        _task("followup.task_assigned", FollowUpTaskAssigned, assignee_id="S-AGENT-01"),
        _task("followup.task_due", FollowUpTaskDue, assignee_id="S-AGENT-01"),
    ]  # fmt: skip


def test_an_event_is_skipped_only_when_it_would_change_nothing() -> None:
    h = _handlers()
    skipped = []
    for event in _events():
        if h.acts_on(event):
            continue
        skipped.append(event.type)
        fx = h.effects(event)
        assert fx is None or (fx.plan == Plan() and fx.contact is None and fx.staff is None), (
            event.type
        )
    # what it is for: the task notes with nobody to tell, the types no method takes
    assert {"followup.task_planned", "followup.task_due"} <= set(skipped)


def test_a_task_with_an_assignee_is_acted_on() -> None:
    h = _handlers()
    planned = _events()[-3]
    assert planned.data.assignee_id
    assert h.acts_on(planned)
    assert h.effects(planned).plan.messages  # type: ignore[union-attr]


def test_a_complaint_by_a_relative_without_a_patient_id_keeps_no_contact_under_no_id() -> None:
    """Their phone comes with the case events, kept under the case (`complainant_id`): a
    contact under a missing patient id could not be saved, and failed the whole batch. A
    patient's complaint still keeps their contact."""
    by_patient = example_event("complaint.submitted")
    relative = by_patient.data.patient.model_copy(update={"patient_id": None})
    by_relative = by_patient.model_copy(
        update={"data": by_patient.data.model_copy(update={"patient": relative})}
    )
    h = _handlers()
    assert h.effects(by_relative) == Effects(Plan())
    assert h.effects(by_patient).contact.patient_id == "P-000123"  # type: ignore[union-attr]
