"""Consumers: each event updates the contact directory and is turned into a plan by
`policy` (pure); a batch's plans are saved together by `PlanWriter` (messages created,
waiting ones withdrawn) in the batch's transaction.

Dispatch is on `event.type`; types this service does not act on are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import asyncpg

from hospital_shared.events import CloudEvent
from hospital_shared.phones import everyday_mobile
from hospital_shared.vocabulary import EventName
from notifications import (
    domain,
    enquiry_policy,
    message_store,
    policy,
    repository,
    staff_policy,
    survey_policy,
)
from notifications.domain import QuietHours
from notifications.message_rows import MessageRows
from notifications.plan_writer import Effects, PlanWriter
from notifications.policy import Contact, Plan, PlanningRules

Clock = Callable[[], datetime]


# The task events whose only effect is a note to the task's assignee (plan_task_assigned).
_TELLS_THE_ASSIGNEE = frozenset({"followup.task_planned", "followup.task_assigned"})


def utc_now() -> datetime:
    return datetime.now(UTC)


def _phone(raw: str | None, region: str) -> str | None:
    """E.164 when the number is usable; else as given, so sending fails with the reason.
    An everyday mobile number is recognised at once (2 us, `hospital_shared.phones`); the
    others are parsed in full (54 us) and cached. (All were cached, 32,768 numbers: 9 MB of
    notifications' 152 MB peak through a 200,000-event drain, issue 22.)"""
    if raw is not None and (e164 := everyday_mobile(raw, region)) is not None:
        return e164
    return _parsed_phone(raw, region)


def _opt_out(patient: Any) -> bool | None:
    """A patient's opt-out as an event gives it, for the directory (None: keep ours). A
    patient named by id alone, with no phone (a follow-up objection from a survey's call),
    says nothing of their opt-out unless they opt out: the flag's default must not clear
    the one on file, as a missing phone keeps the number on file."""
    return patient.sms_opt_out if patient.phone is not None or patient.sms_opt_out else None


@lru_cache(maxsize=2_048)
def _parsed_phone(raw: str | None, region: str) -> str | None:
    try:
        return domain.normalise_phone(raw, region)
    except domain.InvalidPhone:
        return raw


class EventHandlers:
    def __init__(
        self,
        rules: PlanningRules,
        quiet_hours: QuietHours,
        *,
        region: str = "CN",
        clock: Clock = utc_now,
        staff_rules: staff_policy.StaffRules | None = None,
        survey_secret: str = "",
    ) -> None:
        self.rules = rules
        self.survey_secret = survey_secret
        self.staff_rules = staff_rules or staff_policy.StaffRules(rules.tz, quiet_hours)
        self.region = region
        self.quiet_hours = quiet_hours
        self.clock = clock
        self.message_rows = MessageRows(rules, quiet_hours, self.staff_rules, clock)
        self._by_type: dict[str, Callable[[CloudEvent[Any]], Effects]] = {
            "registration.created": self._registration,
            "registration.cancelled": self._registration_withdrawn,
            "registration.no_show": self._registration_withdrawn,
            "patient.discharged": self._discharge,
            "discharge.cancelled": self._discharge_cancelled,
            "complaint.submitted": self._complaint_submitted,
            "patient.details_updated": self._details_updated,
            "followup.task_planned": self._task_assigned,
            "followup.task_assigned": self._task_assigned,
            EventName.TASK_OVERDUE: self._task_overdue,
            "followup.task_unreachable": self._unreachable,
            "followup.task_completed": self._task_closed,
            "followup.task_withdrawn": self._task_closed,
            "complaint.time_limit_warning": self._time_limit,
            "complaint.time_limit_breached": self._time_limit,
            "staff.member_saved": self._staff,
            "enquiry.time_limit_warning": self._enquiry_time_limit,
            "enquiry.time_limit_breached": self._enquiry_time_limit,
            "enquiry.handed_over": self._enquiry_handed_over,
            "feedback.praise_received": self._praise,
            "queue.episode_opened": self._queue_episode,
            "monitoring.alert_fired": self._monitoring_alert,
            "monitoring.alert_resolved": self._monitoring_alert,
        }

    async def handle(self, conn: asyncpg.Connection, event: CloudEvent[Any]) -> None:
        await self.handle_batch(conn, [event])

    async def handle_batch(
        self, conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]]
    ) -> None:
        """The events' effects in their order, written in a few statements per batch: the
        templates and the withdrawn subjects are read once, then `PlanWriter` saves."""
        effects = [(e, fx) for e in events if (fx := self.effects(e)) is not None]
        planned = [m for _, fx in effects for m in fx.plan.messages]
        if not effects:
            return
        writer = PlanWriter(
            conn,
            templates=await repository.load_templates(conn) if planned else {},
            withdrawn=await message_store.withdrawn_reasons(
                conn, {m.subject_ref for m in planned if m.subject_ref}
            ),
            message_rows=self.message_rows,
            survey_secret=self.survey_secret,
        )
        for event, fx in effects:
            await writer.add(event, fx)
        await writer.flush()
        if planned:
            await conn.execute("SELECT pg_notify('notifications_dispatch', '')")

    def acts_on(self, event: CloudEvent[Any]) -> bool:
        """False only where `effects` is certainly nothing: a type no method here takes
        (`followup.task_due`...), or a task planned or assigned with nobody to tell
        (`plan_task_assigned`): a quarter of a bench backlog's events. The consumer still
        validates these, but writes them no inbox row and hands them to no handler."""
        if event.type in _TELLS_THE_ASSIGNEE:
            return bool(event.data.assignee_id)
        return event.type in self._by_type or event.type.startswith("complaint.case_")

    def effects(self, event: CloudEvent[Any]) -> Effects | None:
        """What `event` changes (None: a type this service does not act on)."""
        if event.type.startswith("complaint.case_"):
            return self._case(event)
        handler = self._by_type.get(event.type)
        return handler(event) if handler is not None else None

    # --- one method per event type: directory updates, then the plan ------------------

    def _phone(self, raw: str | None) -> str | None:
        return _phone(raw, self.region)

    def _contact(self, patient: Any) -> Contact | None:
        """The patient's contact, kept under their id. None for a complainant without one (a
        relative, a visitor): the complaints service's case events carry their phone, which
        is kept under the case (`policy.complainant_id`)."""
        if patient is None or patient.patient_id is None:
            return None
        return Contact(patient.patient_id, self._phone(patient.phone), _opt_out(patient))

    def _registration(self, event: CloudEvent[Any]) -> Effects:
        plan = survey_policy.merged(
            policy.plan_registration(event.data, event.id, self.clock(), self.rules),
            survey_policy.plan_visit_survey(event.data, event.id, self.rules),
        )
        return Effects(plan, self._contact(event.data.patient))

    def _registration_withdrawn(self, event: CloudEvent[Any]) -> Effects:
        reason = event.type.removeprefix("registration.")
        return Effects(policy.plan_registration_withdrawn(event.data.registration_id, reason))

    def _discharge(self, event: CloudEvent[Any]) -> Effects:
        plan = survey_policy.merged(
            policy.plan_discharge(event.data, event.id, self.rules),
            survey_policy.plan_discharge_survey(event.data, event.id, self.rules),
        )
        ref = f"admission:{event.data.admission_id}"
        return Effects(plan, self._contact(event.data.patient), deceased_ref=ref)

    def _discharge_cancelled(self, event: CloudEvent[Any]) -> Effects:
        plan = policy.plan_discharge_cancelled(event.data.admission_id)
        return Effects(plan, deceased_ref=f"admission:{event.data.admission_id}")

    def _complaint_submitted(self, event: CloudEvent[Any]) -> Effects:
        # the complaints service opens the case; we text on its events
        return Effects(Plan(), self._contact(event.data.patient))

    def _details_updated(self, event: CloudEvent[Any]) -> Effects:
        # ADT^A08: a new phone number; SMS waiting take it, as their number is read when sent
        return Effects(Plan(), self._contact(event.data.patient))

    def _task_assigned(self, event: CloudEvent[Any]) -> Effects:
        return Effects(policy.plan_task_assigned(event.data, self.clock(), self.rules))

    def _task_overdue(self, event: CloudEvent[Any]) -> Effects:
        return Effects(policy.plan_task_overdue(event.data, event.id, self.clock(), self.rules))

    def _unreachable(self, event: CloudEvent[Any]) -> Effects:
        d = event.data
        plan = policy.plan_unreachable(d, event.id, self.clock(), self.rules)
        contact = Contact(d.patient_id, self._phone(d.patient_phone), None)
        return Effects(plan, contact if d.patient_phone else None)

    def _task_closed(self, event: CloudEvent[Any]) -> Effects:
        reason = event.type.removeprefix("followup.")
        return Effects(policy.plan_task_closed(event.data.task_id, reason))

    def _case(self, event: CloudEvent[Any]) -> Effects:
        now = self.clock()
        plan = survey_policy.merged(
            policy.plan_case_changed(event.type, event.data, now, self.rules),
            survey_policy.plan_complaint_check(event.type, event.data, now, self.rules),
        )
        patient = event.data.patient
        if patient is None:
            return Effects(plan)
        contact = Contact(
            policy.complainant_id(event.data), self._phone(patient.phone), _opt_out(patient)
        )
        return Effects(plan, contact)

    def _time_limit(self, event: CloudEvent[Any]) -> Effects:
        return Effects(policy.plan_time_limit(event.data, event.id, self.clock(), self.rules))

    def _enquiry_time_limit(self, event: CloudEvent[Any]) -> Effects:
        now = self.clock()
        return Effects(
            enquiry_policy.plan_enquiry_time_limit(event.data, event.id, now, self.rules)
        )

    def _enquiry_handed_over(self, event: CloudEvent[Any]) -> Effects:
        now = self.clock()
        return Effects(
            enquiry_policy.plan_enquiry_handed_over(event.data, event.id, now, self.rules)
        )

    def _praise(self, event: CloudEvent[Any]) -> Effects:
        return Effects(enquiry_policy.plan_praise(event.data, event.id, self.clock(), self.rules))

    def _queue_episode(self, event: CloudEvent[Any]) -> Effects:
        return Effects(policy.plan_queue_episode(event.data, self.clock(), self.rules))

    def _monitoring_alert(self, event: CloudEvent[Any]) -> Effects:
        plan = policy.plan_monitoring_alert(event.data, event.id, self.clock(), self.rules)
        return Effects(plan)

    def _staff(self, event: CloudEvent[Any]) -> Effects:
        return Effects(Plan(), staff=event.data)
