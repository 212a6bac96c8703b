"""The Prometheus rules: generated from the KPI catalog, valid (`promtool check rules`), and
every alert fires on the series it is about and stays quiet otherwise (`promtool test rules`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from metrics import alerting
from metrics.kpi import KPIS
from metrics.settings import DOMAIN_TARGETS


@pytest.fixture
def promtool() -> str:
    """promtool's path. `make test` installs it (`make packages`) and sets REQUIRE_PROMTOOL=1,
    so there a missing promtool fails the run with the reason instead of skipping the only
    tests that run the alerts (and their KPI direction) through Prometheus itself; elsewhere
    (`make test-unit`, an IDE) these tests are skipped."""
    found = shutil.which("promtool")
    if found:
        return found
    reason = "promtool not found on PATH (Debian package prometheus; `make packages` installs it)"
    if os.environ.get("REQUIRE_PROMTOOL"):
        pytest.fail(reason)
    pytest.skip(reason)


def test_the_rules_file_is_generated_from_the_catalog() -> None:
    assert alerting.RULES_FILE.read_text() == alerting.render()


def test_every_kpi_with_a_target_has_an_alert_with_a_runbook() -> None:
    alerts = alerting.kpi_alerts()
    with_target = [k.key for k in KPIS if DOMAIN_TARGETS[k.key] is not None]
    assert sorted(a["labels"]["kpi"] for a in alerts) == sorted(with_target)
    for rule in alerts + alerting.OPERATIONAL_ALERTS:
        assert len(rule["annotations"]["runbook"]) > 80


def test_promtool_check_rules_passes(promtool: str) -> None:
    result = subprocess.run(
        [promtool, "check", "rules", str(alerting.RULES_FILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _kpi_case(kpi: Any) -> dict[str, Any]:
    target = DOMAIN_TARGETS[kpi.key]
    assert target is not None
    bad = max(0.0, target - 0.1) if kpi.minimum else min(1.0, target + 0.1)
    name = next(a["alert"] for a in alerting.kpi_alerts() if a["labels"]["kpi"] == kpi.key)
    lbl = f'{{kpi="{kpi.key}"}}'
    return {
        "interval": "1m",
        "input_series": [
            {"series": f"hospital_kpi_value{lbl}", "values": f"{bad}x30"},
            {"series": f"hospital_kpi_target{lbl}", "values": f"{target}x30"},
            {"series": f"hospital_kpi_denominator{lbl}", "values": "40x30"},
        ],
        "alert_rule_test": [
            {"eval_time": "5m", "alertname": name, "exp_alerts": []},  # not yet: for 15m
            {
                "eval_time": "20m",
                "alertname": name,
                "exp_alerts": [{"exp_labels": {"severity": "warning", "kpi": kpi.key}}],
            },
        ],
    }


def _on_target_case(kpi: Any) -> dict[str, Any]:
    target = DOMAIN_TARGETS[kpi.key]
    name = next(a["alert"] for a in alerting.kpi_alerts() if a["labels"]["kpi"] == kpi.key)
    lbl = f'{{kpi="{kpi.key}"}}'
    return {
        "interval": "1m",
        "input_series": [
            {"series": f"hospital_kpi_value{lbl}", "values": f"{target}x30"},
            {"series": f"hospital_kpi_target{lbl}", "values": f"{target}x30"},
            {"series": f"hospital_kpi_denominator{lbl}", "values": "40x30"},
        ],
        "alert_rule_test": [{"eval_time": "20m", "alertname": name, "exp_alerts": []}],
    }


OPERATIONAL_CASES: list[dict[str, Any]] = [
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'hospital_complaint_time_limit_breaches_total{department="CARD",limit="first_response"}',
                "values": "0x10 1x50",
            }
        ],
        "alert_rule_test": [
            {"eval_time": "5m", "alertname": "ComplaintTimeLimitBreached", "exp_alerts": []},
            {
                "eval_time": "15m",
                "alertname": "ComplaintTimeLimitBreached",
                "exp_alerts": [{"exp_labels": {"severity": "critical", "limit": "first_response"}}],
            },
            {"eval_time": "75m", "alertname": "ComplaintTimeLimitBreached", "exp_alerts": []},
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'hospital_followup_tasks_overdue_open{department="CARD",kind="inpatient_discharge"}',
                "values": "25x90",
            },
            {
                "series": 'hospital_followup_tasks_overdue_open{department="ORTH",kind="inpatient_discharge"}',
                "values": "3x90",
            },
        ],
        "alert_rule_test": [
            {
                "eval_time": "70m",
                "alertname": "FollowUpTasksOverdue",
                "exp_alerts": [{"exp_labels": {"severity": "warning", "department": "CARD"}}],
            }
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'hospital_consumer_group_lag{group="followup.events",topic="hospital.discharges.v1"}',
                "values": "5000x20",
            }
        ],
        "alert_rule_test": [
            {
                "eval_time": "15m",
                "alertname": "ConsumerGroupLagging",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            "severity": "warning",
                            "group": "followup.events",
                            "topic": "hospital.discharges.v1",
                        }
                    }
                ],
            }
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'hospital_events_processed_total{service="followup",topic="hospital.discharges.v1",result="schema_violation"}',
                "values": "0x5 2x20",
            },
            {
                "series": 'hospital_events_processed_total{service="followup",topic="hospital.discharges.v1",result="ok"}',
                "values": "0+10x25",
            },
        ],
        "alert_rule_test": [
            {
                "eval_time": "10m",
                "alertname": "EventsDeadLettered",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            "severity": "warning",
                            "service": "followup",
                            "topic": "hospital.discharges.v1",
                        }
                    }
                ],
            }
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'hospital_consumer_stalled{service="notifications",group="notifications.notify",instance="a"}',
                "values": "0x5 1x10 0x10",
            },
            {
                "series": 'hospital_consumer_stalled{service="complaints",group="complaints.complaints",instance="a"}',
                "values": "0x25",
            },
        ],
        "alert_rule_test": [
            {"eval_time": "6m", "alertname": "ConsumerStalled", "exp_alerts": []},  # for 1m
            {
                "eval_time": "8m",
                "alertname": "ConsumerStalled",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            "severity": "critical",
                            "service": "notifications",
                            "group": "notifications.notify",
                        }
                    }
                ],
            },
            {"eval_time": "18m", "alertname": "ConsumerStalled", "exp_alerts": []},  # recovered
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {"series": "hospital_metrics_store_refresh_age_seconds", "values": "1x5 200x20"}
        ],
        "alert_rule_test": [
            {
                "eval_time": "15m",
                "alertname": "MetricsStoreStale",
                "exp_alerts": [{"exp_labels": {"severity": "warning"}}],
            }
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'hospital_access_unusual_readers{service="complaints",instance="a"}',
                "values": "0x5 2x5 0x5",
            },
            {
                "series": 'hospital_access_unusual_readers{service="followup",instance="a"}',
                "values": "0x15",
            },
        ],
        "alert_rule_test": [
            {"eval_time": "3m", "alertname": "UnusualPatientDataAccess", "exp_alerts": []},
            {
                "eval_time": "7m",
                "alertname": "UnusualPatientDataAccess",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            "severity": "warning",
                            "audience": "admin",
                            "service": "complaints",
                        }
                    }
                ],
            },
            {"eval_time": "13m", "alertname": "UnusualPatientDataAccess", "exp_alerts": []},
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'hospital_calendar_year_missing{service="complaints",year="2027"}',
                "values": "0x5 1x5 0x5",
            },
            {
                "series": 'hospital_calendar_year_missing{service="complaints",year="2026"}',
                "values": "0x15",
            },
        ],
        "alert_rule_test": [
            {"eval_time": "3m", "alertname": "WorkingCalendarYearMissing", "exp_alerts": []},
            {
                "eval_time": "7m",
                "alertname": "WorkingCalendarYearMissing",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            "severity": "critical",
                            "service": "complaints",
                            "year": "2027",
                        }
                    }
                ],
            },
            # operations added the year
            {"eval_time": "13m", "alertname": "WorkingCalendarYearMissing", "exp_alerts": []},
        ],
    },
    {
        # promtool's clock starts at 0 (1970): a backup taken at 1,000 s is older than 26 h
        # from 26h17m on; the alert waits 15 min more; a new backup (after 1,700 min) clears it
        "interval": "1m",
        "input_series": [
            {
                "series": "hospital_backup_last_success_timestamp_seconds",
                "values": "1000x1700 97200x200",
            }
        ],
        "alert_rule_test": [
            {"eval_time": "25h", "alertname": "BackupTooOld", "exp_alerts": []},
            {
                "eval_time": "27h",
                "alertname": "BackupTooOld",
                "exp_alerts": [{"exp_labels": {"severity": "critical"}}],
            },
            {"eval_time": "29h", "alertname": "BackupTooOld", "exp_alerts": []},
        ],
    },
]

# Issue 20: a service down, and the SMS gateway failing (nothing accepted while hand-overs fail).
OPERATIONAL_CASES += [
    {
        "interval": "1m",
        "input_series": [
            {"series": 'up{job="notifications",instance="a"}', "values": "1x3 0x10"},
            {"series": 'up{job="followup",instance="b"}', "values": "1x15"},
            {"series": 'up{job="console",instance="c"}', "values": "1x3 0x10"},
        ],
        "alert_rule_test": [
            {"eval_time": "3m", "alertname": "ServiceDown", "exp_alerts": []},
            {
                "eval_time": "6m",
                "alertname": "ServiceDown",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            "severity": "critical",
                            "job": "notifications",
                            "instance": "a",
                        }
                    },
                    {"exp_labels": {"severity": "critical", "job": "console", "instance": "c"}},
                ],
            },
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'notifications_sms_handed_total{template="t",outcome="refused"}',
                "values": "0+2x40",
            },
            {
                "series": 'notifications_sms_handed_total{template="t",outcome="accepted"}',
                "values": "0+5x10 50x30",
            },
        ],
        "alert_rule_test": [
            {"eval_time": "9m", "alertname": "SmsGatewayFailing", "exp_alerts": []},
            {
                "eval_time": "30m",
                "alertname": "SmsGatewayFailing",
                "exp_alerts": [{"exp_labels": {"severity": "critical"}}],
            },
        ],
    },
    # F2: the retries of an outage thin out (backoff up to 5 minutes) and stop while SMS still
    # wait for the gateway: the alert stays on as long as they wait and none is accepted, and
    # goes out once the gateway takes them again.
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'notifications_sms_handed_total{template="t",outcome="retry"}',
                "values": "0+3x10 30x50",
            },
            {
                "series": 'notifications_sms_handed_total{template="t",outcome="accepted"}',
                "values": "0x45 0+4x15",
            },
            {
                "series": 'notifications_sms_waiting_for_gateway{job="notifications",instance="a"}',
                "values": "0 3x45 0x15",
            },
            {
                "series": 'notifications_sms_waiting_for_gateway{job="notifications",instance="b"}',
                "values": "0 3x45 0x15",
            },
        ],
        "alert_rule_test": [
            {
                "eval_time": "15m",
                "alertname": "SmsGatewayFailing",
                "exp_alerts": [{"exp_labels": {"severity": "critical"}}],
            },
            {
                "eval_time": "40m",
                "alertname": "SmsGatewayFailing",
                "exp_alerts": [{"exp_labels": {"severity": "critical"}}],
            },
            {"eval_time": "55m", "alertname": "SmsGatewayFailing", "exp_alerts": []},
        ],
    },
    # A mail relay down: the email notes wait for it (their retries thin out), the robots
    # work. StaffChannelFailing for email only, on while they wait, off once it takes them.
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'notifications_staff_handed_total{channel="email",outcome="retry"}',
                "values": "0+3x10 30x50",
            },
            {
                "series": 'notifications_staff_handed_total{channel="email",outcome="accepted"}',
                "values": "0x45 0+4x15",
            },
            {
                "series": 'notifications_staff_handed_total{channel="webhook",outcome="accepted"}',
                "values": "0+2x60",
            },
            {
                "series": 'notifications_staff_waiting_for_server{channel="email",instance="a"}',
                "values": "0 3x45 0x15",
            },
            {
                "series": 'notifications_staff_waiting_for_server{channel="webhook",instance="a"}',
                "values": "0x61",
            },
        ],
        "alert_rule_test": [
            {
                "eval_time": "40m",
                "alertname": "StaffChannelFailing",
                "exp_alerts": [{"exp_labels": {"severity": "critical", "channel": "email"}}],
            },
            {"eval_time": "55m", "alertname": "StaffChannelFailing", "exp_alerts": []},
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'notifications_sms_dispatch_paused{job="notifications",instance="a"}',
                "values": "0x5 1x60",
            },
            {
                "series": 'notifications_sms_dispatch_paused{job="notifications",instance="b"}',
                "values": "0x65",
            },
        ],
        "alert_rule_test": [
            {"eval_time": "30m", "alertname": "SmsDispatchPaused", "exp_alerts": []},
            {
                "eval_time": "40m",
                "alertname": "SmsDispatchPaused",
                "exp_alerts": [{"exp_labels": {"severity": "warning", "instance": "a"}}],
            },
        ],
    },
]


def test_every_alert_has_a_promtool_case() -> None:
    tested = {t["alertname"] for case in OPERATIONAL_CASES for t in case["alert_rule_test"]}
    assert tested == {a["alert"] for a in alerting.OPERATIONAL_ALERTS}


def _with_annotations(tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Expected annotations: the rule's templates with the expected alert's labels filled in."""
    rules = {r["alert"]: r for r in alerting.kpi_alerts() + alerting.OPERATIONAL_ALERTS}
    for case in tests:
        for check in case["alert_rule_test"]:
            for alert in check["exp_alerts"]:
                labels = alert["exp_labels"]
                alert["exp_annotations"] = {
                    k: re.sub(
                        r"\{\{ \$labels\.(\w+) \}\}", lambda m, labels=labels: labels[m.group(1)], v
                    )
                    for k, v in rules[check["alertname"]]["annotations"].items()
                }
    return tests


def test_promtool_unit_tests_cover_every_alert(tmp_path: Path, promtool: str) -> None:
    kpis = [k for k in KPIS if DOMAIN_TARGETS[k.key] is not None]
    tests = [_kpi_case(k) for k in kpis] + [_on_target_case(k) for k in kpis] + OPERATIONAL_CASES
    doc = {
        "rule_files": [str(alerting.RULES_FILE)],
        "evaluation_interval": "1m",
        "tests": _with_annotations(tests),
    }
    spec = tmp_path / "hospital-metrics_test.yml"
    spec.write_text(json.dumps(doc, indent=1))
    result = subprocess.run([promtool, "test", "rules", str(spec)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
