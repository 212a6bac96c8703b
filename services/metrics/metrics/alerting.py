"""Prometheus recording and alerting rules, generated from the KPI catalog so that every
target has its alert and its `hospital:kpi_met` series. `python -m metrics.alerting` rewrites
deploy/prometheus/rules/hospital-metrics.yml; a test checks the file is up to date and
`promtool check rules` / `promtool test rules` pass on it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from metrics.kpi import KPIS

REPO = Path(__file__).resolve().parents[3]
RULES_FILE = REPO / "deploy" / "prometheus" / "rules" / "hospital-metrics.yml"

DEAD_LETTER_RESULTS = 'result!~"ok|duplicate"'

RECORDING: list[dict[str, str]] = [
    {
        "record": "hospital:complaint_breaches:increase1h",
        "expr": "sum by (limit) (increase(hospital_complaint_time_limit_breaches_total[1h]))",
    },
    {
        "record": "hospital:dead_letters:rate5m",
        "expr": f"sum by (service, topic) (rate(hospital_events_processed_total{{{DEAD_LETTER_RESULTS}}}[5m]))",
    },
    {
        "record": "hospital:events_processed:rate5m",
        "expr": "sum by (service, topic, result) (rate(hospital_events_processed_total[5m]))",
    },
    {
        "record": "hospital:event_delay_seconds:p95_5m",
        "expr": "histogram_quantile(0.95, sum by (le, service, topic) "
        "(rate(hospital_event_processing_delay_seconds_bucket[5m])))",
    },
    {
        "record": "hospital:consumer_group_lag:sum",
        "expr": "sum by (group, topic) (hospital_consumer_group_lag)",
    },
    {
        "record": "hospital:sms_delivered:ratio1h",
        "expr": 'sum(increase(hospital_sms_messages_total{status="delivered"}[1h]))'
        ' / sum(increase(hospital_sms_messages_total{status=~"delivered|failed|expired"}[1h]))',
    },
    {
        "record": "hospital:followup_reached:ratio7d",
        "expr": 'sum(increase(hospital_followup_tasks_completed_total{kind="inpatient_discharge"}[7d]))'
        ' / sum(increase(hospital_followup_tasks_planned_total{kind="inpatient_discharge"}[7d]))',
    },
]

RUNBOOK_KPI = (
    "The {title} over the settled 7-day cohort ({window}) is off its target {op} {target}"
    " (see hospital_kpi_value). Open the KPI report (GET /v1/kpi?period=week) per department to"
    " find where it falls short; check the matching dashboard (follow-up, complaints or"
    " notifications) for overdue work, unreachable patients or failing deliveries; raise it"
    " with the department head. The target is METRICS_KPI_TARGETS[{key}]."
)


def kpi_alerts() -> list[dict[str, Any]]:
    alerts = []
    for kpi in KPIS:
        if kpi.target is None:
            continue
        op = "<" if kpi.minimum else ">"
        name = "".join(part.capitalize() for part in kpi.key.split("_"))
        alerts.append(
            {
                "alert": f"Kpi{name}OffTarget",
                "expr": f'hospital_kpi_value{{kpi="{kpi.key}"}} {op} on(kpi)'
                f' hospital_kpi_target{{kpi="{kpi.key}"}}'
                f' and on(kpi) hospital_kpi_denominator{{kpi="{kpi.key}"}} > 0',
                "for": "15m",
                "labels": {"severity": "warning", "kpi": kpi.key},
                "annotations": {
                    "summary": f"{kpi.title_en} ({kpi.title_zh}) off target",
                    "runbook": RUNBOOK_KPI.format(
                        title=kpi.title_en,
                        window="7 local days ending 3 days ago",
                        op=">=" if kpi.minimum else "<=",
                        target=f"{kpi.target:.0%}",
                        key=kpi.key,
                    ),
                },
            }
        )
    return alerts


OPERATIONAL_ALERTS: list[dict[str, Any]] = [
    {
        "alert": "ComplaintTimeLimitBreached",
        "expr": "sum by (limit) (increase(hospital_complaint_time_limit_breaches_total[1h])) > 0",
        "labels": {"severity": "critical"},
        "annotations": {
            "summary": "A complaint time limit was breached in the last hour (投诉超时)",
            "runbook": "A case missed its {{ $labels.limit }} limit. The supervisor has been"
            " notified by the notifications service; open the complaints service's case list"
            " filtered by status, contact the patient, record the late step, and note the cause"
            " in the case's audit trail.",
        },
    },
    {
        "alert": "FollowUpTasksOverdue",
        "expr": "sum by (department) (hospital_followup_tasks_overdue_open) > 20",
        "for": "1h",
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": "More than 20 follow-up calls overdue in {{ $labels.department }}",
            "runbook": "Open the supervisor's department view in the follow-up service,"
            " reassign overdue tasks to staff with spare capacity, and check the roster"
            " (absent staff still holding tasks).",
        },
    },
    {
        "alert": "ConsumerGroupLagging",
        "expr": "sum by (group, topic) (hospital_consumer_group_lag) > 1000",
        "for": "10m",
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": "Consumer group {{ $labels.group }} is more than 1000 records behind on"
            " {{ $labels.topic }}",
            "runbook": "Check that the group's service is up (/readyz) and not crash-looping"
            " (its log); a stuck batch shows as retries in hospital_consumer_retries_total."
            " Scale the service out (same group) if it is only slow.",
        },
    },
    {
        "alert": "ConsumerStalled",
        "expr": "max by (service, group) (hospital_consumer_stalled) > 0",
        "for": "1m",
        "labels": {"severity": "critical"},
        "annotations": {
            "summary": "Consumer group {{ $labels.group }} of {{ $labels.service }} makes no"
            " progress while records wait for it",
            "runbook": "Its events are not handled (for notifications: no patient SMS). The"
            " service's /readyz lists it under stalled_consumers with the error it keeps"
            " retrying on; its log has the full error. A database or broker away shows there"
            " too and heals by itself; any other error needs a fix, then the consumer goes on"
            " from where it stopped (a restart is not needed and does not help).",
        },
    },
    {
        "alert": "EventsDeadLettered",
        "expr": f"sum by (service, topic) (increase(hospital_events_processed_total{{{DEAD_LETTER_RESULTS}}}[15m])) > 0",
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": "{{ $labels.service }} dead-lettered events from {{ $labels.topic }}",
            "runbook": "Read the .dlq topic's records: the dlq-reason header says which field"
            " was wrong. Fix the sender (or the handler), then replay the records to the topic"
            " within 30 days of the failure: the other consumers of the topic remember the"
            " events they handled for that long (<SERVICE>_INBOX_KEEP_MIN_DAYS), and after"
            " that would handle a replayed event again.",
        },
    },
    {
        "alert": "MetricsStoreStale",
        "expr": "hospital_metrics_store_refresh_age_seconds > 120",
        "for": "5m",
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": "The metrics service has not read its KPI store for 2 minutes",
            "runbook": "The live counters are frozen. Check the metrics service's database"
            " connection (/readyz) and its log for 'live metrics refresh failed'.",
        },
    },
    {
        # For operations (admin), like every operational alert: the watch job of each service
        # applies the unusual-access rule (hospital_shared/unusual_access.py) to its records.
        "alert": "UnusualPatientDataAccess",
        "expr": "max by (service) (hospital_access_unusual_readers) > 0",
        "labels": {"severity": "warning", "audience": "admin"},
        "annotations": {
            "summary": "Staff read many patients outside their department or worklist in"
            " {{ $labels.service }}",
            "runbook": "GET /v1/access-records/unusual on that service (admin token) names them"
            " and how many patients; GET /v1/access-records?staff_id=... lists what they read"
            " and the reason they gave. Limits: ACCESS_UNUSUAL_PATIENTS, ACCESS_UNUSUAL_WINDOW_S.",
        },
    },
    {
        "alert": "WorkingCalendarYearMissing",
        "expr": "max by (service, year) (hospital_calendar_year_missing) > 0",
        "labels": {"severity": "critical"},
        "annotations": {
            "summary": "{{ $labels.service }} counted working days in {{ $labels.year }}"
            " without the official calendar (Monday to Friday assumed)",
            "runbook": "Time limits in working days (complaint fact-finding, follow-up call"
            " windows) may be wrong over that year's holidays and adjusted working days (调休)."
            " Add the State Council's holiday notice for the year: PUT"
            " /v1/calendar/years/{year} on the complaints service (admin token; holidays,"
            " workdays, source, notice); follow-up takes it from the calendar.year_saved event."
            " Cases already counted show the year in calendar_missing_years.",
        },
    },
    {
        "alert": "BackupTooOld",
        "expr": "time() - max(hospital_backup_last_success_timestamp_seconds) > 26 * 3600",
        "for": "15m",
        "labels": {"severity": "critical"},
        "annotations": {
            "summary": "No checked backup of the database for more than 26 hours",
            "runbook": "Run `make backup` (compose: the backup service, see the README's restore"
            " runbook) and read its error: it fails when pg_dump fails or when the test restore"
            " into a scratch database does not give the same row counts. A restore can only go"
            " back to the last good backup, and Kafka keeps the events since then only as long"
            " as the topics' retention: a backup older than that cannot be brought forward.",
        },
    },
]


# Issue 20: alerts that reach people through Alertmanager (deploy/alertmanager, devstack):
# a service that Prometheus cannot scrape, and the SMS gateway refusing or not answering.
OPERATIONAL_ALERTS += [
    {
        "alert": "ServiceDown",
        "expr": 'up{job=~"registration|followup|complaints|notifications|metrics|console"} == 0',
        "for": "1m",
        "labels": {"severity": "critical"},
        "annotations": {
            "summary": "The {{ $labels.job }} service does not answer Prometheus (服务停止)",
            "runbook": "Check the process (devstack status; compose: docker compose ps) and its"
            " log (.stack/logs/{{ $labels.job }}.log). Events wait in Kafka while it is down and"
            " are handled when it is back (the console: staff have no screen until it is);"
            " start it again, then watch its /readyz.",
        },
    },
    {
        "alert": "SmsGatewayFailing",
        # `or vector(0)`: no series of an outcome yet counts as none (and keeps both sides of
        # `and` one series, so the rule's bool form has data in the dashboards' e2e test).
        # SMS waiting for the gateway keep it on: on hand-overs alone it went out by itself
        # once the last retry was 10 minutes old, the gateway still down (F2). `max`: every
        # instance reports the same count.
        "expr": '((sum(increase(notifications_sms_handed_total{outcome!="accepted"}[10m]))'
        " or vector(0)) > 0"
        " or (max(notifications_sms_waiting_for_gateway) or vector(0)) > 0)"
        ' and (sum(increase(notifications_sms_handed_total{outcome="accepted"}[10m]))'
        " or vector(0)) == 0",
        "for": "5m",
        "labels": {"severity": "critical"},
        "annotations": {
            "summary": "The SMS gateway took no message for 10 minutes while hand-overs failed"
            " (短信网关故障)",
            "runbook": "Patients receive no SMS. Check Kannel (bearerbox/smsbox logs, the admin"
            " status page) and the operator link. The notifications service keeps each SMS the"
            " gateway cannot be reached for `pending` and tries it again (at most every"
            " NOTIFICATIONS_SEND_RETRY_MAX_S) until it expires; it goes once Kannel is back."
            " Waiting: GET /v1/messages?status=pending&deferred_reason=gateway_retry on"
            " notifications (supervisor or admin token; notifications_sms_waiting_for_gateway"
            " counts them). Given up: GET /v1/messages?status=failed&since=2026-12-05T01:30:00Z"
            " (the outage's start, UTC) and the same with status=expired; a supervisor resends"
            " one with POST /v1/messages/<id>/resend.",
        },
    },
    {
        "alert": "StaffChannelFailing",
        # As SmsGatewayFailing, by channel (email, webhook): hand-overs not taken, or notes
        # still waiting for their server, and none taken. `unless` on the channel: a channel
        # that took a note in 10 minutes is working (a robot's 429 to one department).
        "expr": '(sum by (channel) (increase(notifications_staff_handed_total{outcome!="accepted"}[10m])) > 0'
        " or max by (channel) (notifications_staff_waiting_for_server) > 0)"
        ' unless sum by (channel) (increase(notifications_staff_handed_total{outcome="accepted"}[10m])) > 0',
        "for": "5m",
        "labels": {"severity": "critical"},
        "annotations": {
            "summary": "Staff {{ $labels.channel }} notifications: no note taken for 10 minutes"
            " while hand-overs failed (员工{{ $labels.channel }}通知发送失败)",
            "runbook": "Staff get their notes in the console's inbox only. email: check the mail"
            " relay (NOTIFICATIONS_SMTP_HOST, its log, its queue); webhook: the robots' endpoint"
            " (WeCom / DingTalk, the proxy to it). Notes whose server cannot be reached (or"
            " answers 503 or a temporary SMTP 4xx) stay pending and are tried again until they"
            " expire or NOTIFICATIONS_STAFF_CHANNEL_WAIT_H after they fell due; they go once it"
            " is back. Waiting: GET /v1/messages?status=pending&deferred_reason=gateway_retry"
            " (notifications_staff_waiting_for_server counts them). Given up: GET"
            " /v1/messages?status=failed&since=<the outage's start, UTC>; a supervisor resends"
            " one with POST /v1/messages/<id>/resend.",
        },
    },
    {
        "alert": "SmsDispatchPaused",
        "expr": "max by (instance) (notifications_sms_dispatch_paused) == 1",
        "for": "30m",
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": "SMS dispatch has been paused for 30 minutes on {{ $labels.instance }}"
            " (短信发送已暂停)",
            "runbook": "Patients and staff receive no SMS: the notifications service runs with"
            " NOTIFICATIONS_SMS_DISPATCH_PAUSED=true, and planned messages wait. When the reason"
            " for the hold is over, restart it without the setting: expired messages are then"
            " expired, the others go by the sending rules.",
        },
    },
]


def kpi_recording() -> list[dict[str, str]]:
    """`hospital:kpi_met` per KPI with a target: 1 while the value is on the right side of
    its target (the definition's direction), 0 otherwise, for dashboards and reports."""
    return [
        {
            "record": "hospital:kpi_met",
            "expr": f'hospital_kpi_value{{kpi="{kpi.key}"}} {">=" if kpi.minimum else "<="} bool'
            f' on(kpi) hospital_kpi_target{{kpi="{kpi.key}"}}',
        }
        for kpi in KPIS
        if kpi.target is not None
    ]


def rules_document() -> dict[str, Any]:
    return {
        "groups": [
            {"name": "hospital-recording", "interval": "30s", "rules": RECORDING},
            {"name": "hospital-kpi-recording", "interval": "30s", "rules": kpi_recording()},
            {"name": "hospital-kpi-targets", "rules": kpi_alerts()},
            {"name": "hospital-operations", "rules": OPERATIONAL_ALERTS},
        ]
    }


def render() -> str:
    # JSON is YAML; kept one rule per block so a diff reads well.
    return (
        "# Generated by `python -m metrics.alerting` from the KPI catalog; do not edit by hand.\n"
        + json.dumps(rules_document(), indent=2, ensure_ascii=False)
        + "\n"
    )


if __name__ == "__main__":
    RULES_FILE.parent.mkdir(parents=True, exist_ok=True)
    RULES_FILE.write_text(render())
    sys.stdout.write(f"wrote {RULES_FILE}\n")
