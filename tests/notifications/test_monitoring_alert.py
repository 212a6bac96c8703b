"""Prometheus alerts from Alertmanager's webhook: each firing alert is one urgent note to the
on-duty supervisor of the alert department, keyed by the alert's fingerprint and start so a
repeat is one message; a resolved alert tells whoever its firing told, once; operations
alerts go to the roster's admin."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from notifications import policy
from notifications.alerts_api import ALERT_FIRED, ALERT_RESOLVED, AlertmanagerIn, alert_events
from notifications.policy import PlanningRules
from notifications.templates import DEFAULTS_BY_NAME, render

RULES = PlanningRules(tz=ZoneInfo("Asia/Shanghai"), alert_department="OPS")
NOW = datetime(2026, 12, 7, 0, 45, tzinfo=UTC)


def webhook(*statuses: str) -> AlertmanagerIn:
    return AlertmanagerIn.model_validate(
        {
            "version": "4",
            "status": "firing",
            "alerts": [
                {
                    "status": status,
                    "labels": {
                        "alertname": "ServiceDown",
                        "job": f"job{i}",
                        "severity": "critical",
                    },
                    "annotations": {"summary": f"The job{i} service does not answer"},
                    "startsAt": "2026-12-07T00:40:00Z",
                    "endsAt": "0001-01-01T00:00:00Z",  # what Alertmanager sends while firing
                    "fingerprint": f"f{i}",
                    "generatorURL": "http://prometheus/graph",
                }
                for i, status in enumerate(statuses)
            ],
        }
    )


def test_each_alert_is_one_event_keyed_by_fingerprint_and_start() -> None:
    events = alert_events(webhook("firing", "resolved", "firing"), NOW)
    assert [e.type for e in events] == [ALERT_FIRED, ALERT_RESOLVED, ALERT_FIRED]
    assert [e.id for e in events] == [
        "alert:f0:2026-12-07T00:40:00+00:00",
        "resolved:alert:f1:2026-12-07T00:40:00+00:00",
        "alert:f2:2026-12-07T00:40:00+00:00",
    ]
    assert [e.id for e in alert_events(webhook("firing"), NOW)] == [events[0].id]  # a repeat


def test_the_note_goes_to_the_alert_departments_supervisor_at_once_and_says_what_fired() -> None:
    [event] = alert_events(webhook("firing"), NOW)
    [note] = policy.plan_monitoring_alert(event.data, event.id, NOW, RULES).messages
    assert (note.template, note.supervisor_of, note.staff_id) == (
        "staff_monitoring_alert",
        "OPS",
        None,
    )
    assert note.key == event.id and note.due_at == NOW
    spec = DEFAULTS_BY_NAME["staff_monitoring_alert"]
    text = render(spec.body, note.context)
    assert "ServiceDown" in text and "critical" in text and "job0" in text
    assert "12月07日 08:40" in text  # the start, in hospital time
    assert spec.urgent and spec.audience == "staff"


def test_an_oversized_webhook_is_refused_field_by_field() -> None:
    with pytest.raises(ValidationError, match="fingerprint"):
        AlertmanagerIn.model_validate(
            {"status": "firing", "alerts": [{"status": "firing", "labels": {},
             "startsAt": "2026-12-07T00:40:00Z", "fingerprint": "x" * 65}]}
        )  # fmt: skip


def test_an_alert_for_operations_goes_to_the_operations_staff_member_when_one_is_set() -> None:
    body = webhook("firing")
    body.alerts[0].labels["audience"] = "admin"
    [event] = alert_events(body, NOW)
    [note] = policy.plan_monitoring_alert(event.data, event.id, NOW, RULES).messages
    # none set: the roster's admin, else (nobody in that role) the supervisor
    assert (note.staff_id, note.role, note.supervisor_of) == (None, "admin", "OPS")
    ops = PlanningRules(tz=RULES.tz, alert_department="OPS", alert_admin_staff_id="S-OPS-01")
    [note] = policy.plan_monitoring_alert(event.data, event.id, NOW, ops).messages
    assert note.staff_id == "S-OPS-01"  # the setting still overrides the roster


def test_a_resolved_alert_is_a_note_to_whoever_its_firing_told() -> None:
    body = webhook("resolved")
    body.alerts[0].endsAt = "2026-12-07T01:10:00Z"
    [event] = alert_events(body, NOW)
    [note] = policy.plan_monitoring_alert(event.data, event.id, NOW, RULES).messages
    assert note.template == "staff_monitoring_alert_resolved" and note.key == event.id
    assert note.told_by == "alert:f0:2026-12-07T00:40:00+00:00"  # the firing's message key
    text = render(DEFAULTS_BY_NAME[note.template].body, note.context)
    assert "ServiceDown" in text and "09:10" in text and "12月07日 08:40" in text
