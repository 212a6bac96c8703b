"""Consumers: each event updates the contact directory, is turned into a plan by `policy`,
and the plan is saved (messages created, waiting ones withdrawn) in the event's transaction.

Dispatch is on `event.type`; types this service does not act on are ignored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from hospital_shared.events import CloudEvent
from notifications import domain, policy, repository, staff_policy
from notifications.domain import QuietHours
from notifications.policy import Plan, Planned, PlanningRules
from notifications.segments import count_segments
from notifications.templates import TemplateInvalid, render

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class EventHandlers:
    def __init__(
        self,
        rules: PlanningRules,
        quiet_hours: QuietHours,
        *,
        region: str = "CN",
        clock: Clock = utc_now,
        staff_rules: staff_policy.StaffRules | None = None,
    ) -> None:
        self.rules = rules
        self.staff_rules = staff_rules or staff_policy.StaffRules(rules.tz, quiet_hours)
        self.region = region
        self.quiet_hours = quiet_hours
        self.clock = clock
        self._by_type: dict[str, Callable[[asyncpg.Connection, CloudEvent[Any]], Awaitable[Plan]]]
        self._by_type = {
            "registration.created": self._registration,
            "registration.cancelled": self._registration_withdrawn,
            "registration.no_show": self._registration_withdrawn,
            "patient.discharged": self._discharge,
            "discharge.cancelled": self._discharge_cancelled,
            "complaint.submitted": self._complaint_submitted,
            "followup.task_planned": self._task_assigned,
            "followup.task_assigned": self._task_assigned,
            "followup.task.overdue": self._task_overdue,
            "followup.task_unreachable": self._unreachable,
            "followup.task_completed": self._task_closed,
            "followup.task_withdrawn": self._task_closed,
            "complaint.time_limit_warning": self._time_limit,
            "complaint.time_limit_breached": self._time_limit,
            "staff.member_saved": self._staff,
        }

    async def handle(self, conn: asyncpg.Connection, event: CloudEvent[Any]) -> None:
        if event.type.startswith("complaint.case_"):
            plan = await self._case(conn, event)
        else:
            handler = self._by_type.get(event.type)
            if handler is None:
                return
            plan = await handler(conn, event)
        await self.save(conn, event, plan)

    # --- one method per event type: directory updates, then the plan ------------------

    def _phone(self, raw: str | None) -> str | None:
        """E.164 when the number is usable; else as given, so sending fails with the reason."""
        try:
            return domain.normalise_phone(raw, self.region)
        except domain.InvalidPhone:
            return raw

    async def _registration(self, conn: asyncpg.Connection, event: CloudEvent[Any]) -> Plan:
        p = event.data.patient
        await repository.save_patient(conn, p.patient_id, self._phone(p.phone), p.sms_opt_out)
        return policy.plan_registration(event.data, event.id, self.clock(), self.rules)

    async def _registration_withdrawn(self, _: asyncpg.Connection, event: CloudEvent[Any]) -> Plan:
        reason = event.type.removeprefix("registration.")
        return policy.plan_registration_withdrawn(event.data.registration_id, reason)

    async def _discharge(self, conn: asyncpg.Connection, event: CloudEvent[Any]) -> Plan:
        p = event.data.patient
        await repository.save_patient(conn, p.patient_id, self._phone(p.phone), p.sms_opt_out)
        plan = policy.plan_discharge(event.data, event.id, self.rules)
        if plan.deceased:
            await repository.mark_deceased(
                conn, p.patient_id, f"admission:{event.data.admission_id}"
            )
        return plan

    async def _discharge_cancelled(self, conn: asyncpg.Connection, event: CloudEvent[Any]) -> Plan:
        await repository.undo_deceased(conn, f"admission:{event.data.admission_id}")
        return policy.plan_discharge_cancelled(event.data.admission_id)

    async def _complaint_submitted(self, conn: asyncpg.Connection, event: CloudEvent[Any]) -> Plan:
        p = event.data.patient
        if p is not None:
            await repository.save_patient(conn, p.patient_id, self._phone(p.phone), p.sms_opt_out)
        return Plan()  # the complaints service opens the case; we text on its events

    async def _task_assigned(self, _: asyncpg.Connection, event: CloudEvent[Any]) -> Plan:
        return policy.plan_task_assigned(event.data, self.clock(), self.rules)

    async def _task_overdue(self, _: asyncpg.Connection, event: CloudEvent[Any]) -> Plan:
        return policy.plan_task_overdue(event.data, event.id, self.clock(), self.rules)

    async def _unreachable(self, conn: asyncpg.Connection, event: CloudEvent[Any]) -> Plan:
        d = event.data
        if d.patient_phone:
            await repository.save_patient(conn, d.patient_id, self._phone(d.patient_phone), None)
        return policy.plan_unreachable(d, event.id, self.clock(), self.rules)

    async def _task_closed(self, _: asyncpg.Connection, event: CloudEvent[Any]) -> Plan:
        return policy.plan_task_closed(event.data.task_id, event.type.removeprefix("followup."))

    async def _case(self, conn: asyncpg.Connection, event: CloudEvent[Any]) -> Plan:
        p = event.data.patient
        if p is not None:
            await repository.save_patient(conn, p.patient_id, self._phone(p.phone), p.sms_opt_out)
        return policy.plan_case_changed(event.type, event.data, self.clock(), self.rules)

    async def _time_limit(self, _: asyncpg.Connection, event: CloudEvent[Any]) -> Plan:
        return policy.plan_time_limit(event.data, event.id, self.clock(), self.rules)

    async def _staff(self, conn: asyncpg.Connection, event: CloudEvent[Any]) -> Plan:
        await repository.save_staff(conn, event.data)
        return Plan()

    # --- saving a plan -------------------------------------------------------------

    async def save(self, conn: asyncpg.Connection, event: CloudEvent[Any], plan: Plan) -> None:
        for w in plan.withdrawals:
            if w.subject_ref:
                await repository.remember_withdrawn(conn, w.subject_ref, w.reason, event.id)
            await repository.withdraw(
                conn, reason=w.reason, subject_ref=w.subject_ref, patient_id=w.patient_id
            )
        if not plan.messages:
            return
        templates = await repository.load_templates(conn)
        for planned in plan.messages:
            await self._create(conn, event, planned, templates)
        await conn.execute("SELECT pg_notify('notifications_dispatch', '')")

    async def _create(
        self,
        conn: asyncpg.Connection,
        event: CloudEvent[Any],
        planned: Planned,
        templates: dict[str, asyncpg.Record],
    ) -> None:
        template = templates.get(planned.template)
        if template is None:
            log.error("template missing, message not created", template=planned.template)
            return
        staff_id = planned.staff_id
        if template["audience"] == "staff" and staff_id is None:
            staff_id = await repository.supervisor_of(conn, planned.supervisor_of)
            if staff_id is None:
                log.warning("no supervisor on the roster", template=planned.template)
                return
        recipient = (
            f"staff:{staff_id}"
            if template["audience"] == "staff"
            else (f"patient:{planned.patient_id}")
        )
        status, reason = "pending", None
        try:
            body = render(template["body"], planned.context)
        except TemplateInvalid as exc:
            body, status, reason = "", "failed", f"template_error: {exc}"
        withdrawn = await repository.withdrawn_reason(conn, planned.subject_ref)
        if withdrawn and status == "pending":
            status, reason = "withdrawn", withdrawn
        segments = count_segments(body)
        urgent = bool(template["urgent"])
        send_after = (
            planned.due_at
            if urgent
            else (self.quiet_hours.next_allowed(planned.due_at, self.rules.tz))
        )
        common = {
            "source_event_id": event.id,
            "source_event_type": event.type,
            "template": planned.template,
            "audience": template["audience"],
            "patient_id": planned.patient_id,
            "staff_id": staff_id,
            "subject_ref": planned.subject_ref,
            "urgent": urgent,
            "body": body,
            "encoding": segments.encoding,
            "segments": segments.segments,
            "due_at": planned.due_at,
            "expires_at": planned.expires_at,
        }
        key = f"{planned.key}:{planned.template}:{recipient}"
        if staff_id is not None and template["audience"] == "staff":
            await self._create_for_staff(conn, key, staff_id, planned, status, reason, common)
            return
        await repository.insert_message(
            conn,
            idempotency_key=f"{key}:sms",
            channel="sms",
            status=status,
            status_reason=reason,
            send_after=send_after,
            deferred_reason="quiet_hours" if send_after > planned.due_at else None,
            finished_at=None if status == "pending" else self.clock(),
            **common,
        )

    async def _create_for_staff(
        self,
        conn: asyncpg.Connection,
        key: str,
        staff_id: str,
        planned: Planned,
        status: str,
        reason: str | None,
        common: dict[str, Any],
    ) -> None:
        """One message per channel the staff member gets (`staff_policy`); the inbox copy
        is delivered at once."""
        reach = await repository.staff_reach(conn, staff_id)
        now = self.clock()
        deliveries = staff_policy.plan_deliveries(
            reach,
            template=planned.template,
            urgent=common["urgent"],
            due_at=planned.due_at,
            act_by=planned.act_by,
            rules=self.staff_rules,
        )
        for d in deliveries:
            fields: dict[str, Any] = {
                "status": status,
                "status_reason": reason,
                "send_after": d.send_after,
                "deferred_reason": d.deferred_reason,
                "digest_slot": d.digest_slot,
            }
            if d.channel == "inbox" and status == "pending":
                fields |= {"status": "delivered", "delivered_at": now, "send_after": now}
            elif d.unreachable and status == "pending":
                fields |= {"status": "failed", "status_reason": d.unreachable}
            if fields["status"] != "pending":
                fields["finished_at"] = now
            await repository.insert_message(
                conn, idempotency_key=f"{key}:{d.channel}", channel=d.channel, **fields, **common
            )
