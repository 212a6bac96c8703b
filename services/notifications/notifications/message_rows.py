"""A planned message as rows of `messages`: who receives it, its text, its status, when it
may go; one SMS for a patient, one row per channel a staff member gets. No I/O: what the
database knows (the template, a withdrawal, the staff member's reach) is given."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

import structlog

from notifications import staff_policy
from notifications.domain import QuietHours
from notifications.policy import Planned, PlanningRules
from notifications.segments import count_segments
from notifications.templates import TemplateInvalid, render

log = structlog.get_logger(__name__)

Row = dict[str, Any]


class Source(Protocol):
    """What a message keeps of what caused it: a consumed event, or a survey link's event
    when its reminder is made (survey_reminders.py)."""

    @property
    def id(self) -> str: ...

    @property
    def type(self) -> str: ...


class MessageRows:
    def __init__(
        self,
        rules: PlanningRules,
        quiet_hours: QuietHours,
        staff_rules: staff_policy.StaffRules,
        clock: Callable[[], datetime],
    ) -> None:
        self.rules = rules
        self.quiet_hours = quiet_hours
        self.staff_rules = staff_rules
        self.clock = clock

    def rows(
        self,
        event: Source,
        planned: Planned,
        template: Mapping[str, Any],
        *,
        withdrawn: str | None,
        staff_id: str | None,
        reach: staff_policy.StaffReach | None,
    ) -> list[Row]:
        """`withdrawn`: why the subject was withdrawn, if it was; `staff_id`: the recipient of
        a staff message (the planned one, else the supervisor found); `reach`: theirs."""
        audience = template["audience"]
        if audience == "staff" and staff_id is None:
            log.warning("no supervisor on the roster", template=planned.template)
            return []
        recipient = f"staff:{staff_id}" if audience == "staff" else f"patient:{planned.patient_id}"
        body, status, reason = _rendered(template, planned, withdrawn)
        segments = count_segments(body)
        common: Row = {
            "source_event_id": event.id,
            "source_event_type": event.type,
            "template": planned.template,
            "audience": audience,
            "patient_id": planned.patient_id,
            "staff_id": staff_id,
            "subject_ref": planned.subject_ref,
            "urgent": bool(template["urgent"]),
            "body": body,
            "encoding": segments.encoding,
            "segments": segments.segments,
            "due_at": planned.due_at,
            "expires_at": planned.expires_at,
        }
        key = f"{planned.key}:{planned.template}:{recipient}"
        if staff_id is not None and audience == "staff":
            assert reach is not None
            return self._for_staff(key, reach, planned, status, reason, common)
        return [self._sms(key, planned, status, reason, urgent=common["urgent"]) | common]

    def _sms(
        self, key: str, planned: Planned, status: str, reason: str | None, *, urgent: bool
    ) -> Row:
        """The patient's SMS: it waits for the end of quiet hours unless urgent."""
        send_after = (
            planned.due_at
            if urgent
            else self.quiet_hours.next_allowed(planned.due_at, self.rules.tz)
        )
        return {
            "idempotency_key": f"{key}:sms",
            "channel": "sms",
            "status": status,
            "status_reason": reason,
            "send_after": send_after,
            "deferred_reason": "quiet_hours" if send_after > planned.due_at else None,
            "digest_slot": None,
            "delivered_at": None,
            "finished_at": None if status == "pending" else self.clock(),
        }

    def _for_staff(
        self,
        key: str,
        reach: staff_policy.StaffReach,
        planned: Planned,
        status: str,
        reason: str | None,
        common: Row,
    ) -> list[Row]:
        """One message per channel the staff member gets (`staff_policy`); the inbox copy
        is delivered at once."""
        now = self.clock()
        deliveries = staff_policy.plan_deliveries(
            reach,
            template=planned.template,
            urgent=common["urgent"],
            due_at=planned.due_at,
            act_by=planned.act_by,
            rules=self.staff_rules,
        )
        rows: list[Row] = []
        for d in deliveries:
            fields: Row = {
                "idempotency_key": f"{key}:{d.channel}",
                "channel": d.channel,
                "status": status,
                "status_reason": reason,
                "send_after": d.send_after,
                "deferred_reason": d.deferred_reason,
                "digest_slot": d.digest_slot,
                "delivered_at": None,
                "finished_at": None,
            }
            if d.channel == "inbox" and status == "pending":
                fields |= {"status": "delivered", "delivered_at": now, "send_after": now}
            elif d.unreachable and status == "pending":
                fields |= {"status": "failed", "status_reason": d.unreachable}
            if fields["status"] != "pending":
                fields["finished_at"] = now
            rows.append(fields | common)
        return rows


def _rendered(
    template: Mapping[str, Any], planned: Planned, withdrawn: str | None
) -> tuple[str, str, str | None]:
    """The text, status and reason of a new message: pending, failed when the template cannot
    be rendered (the text is then empty), withdrawn when its subject was."""
    status, reason = "pending", None
    try:
        body = render(template["body"], planned.context)
    except TemplateInvalid as exc:
        body, status, reason = "", "failed", f"template_error: {exc}"
    if withdrawn and status == "pending":
        status, reason = "withdrawn", withdrawn
    return body, status, reason
