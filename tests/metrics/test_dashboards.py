"""The Grafana dashboards: generated, both languages, every KPI against its target line."""

from __future__ import annotations

import json
import re

from metrics import catalog, dashboards
from metrics.kpi import KPI_KEYS
from metrics.settings import DOMAIN_TARGETS


def test_the_dashboard_files_are_generated_from_the_description() -> None:
    for path, text in dashboards.rendered().items():
        assert path.read_text() == text, f"{path.name} is stale: python -m metrics.dashboards"


def test_each_dashboard_exists_in_english_and_chinese_with_the_same_queries() -> None:
    for key in dashboards.DASHBOARDS:
        en = json.loads((dashboards.DASHBOARDS_DIR / f"hospital-{key}.en.json").read_text())
        zh = json.loads((dashboards.DASHBOARDS_DIR / f"hospital-{key}.zh.json").read_text())
        assert en["uid"] != zh["uid"] and en["title"] != zh["title"]
        exprs = [[t["expr"] for t in p["targets"]] for p in en["panels"]]
        assert exprs == [[t["expr"] for t in p["targets"]] for p in zh["panels"]]


def test_the_overview_shows_every_kpi_against_its_target() -> None:
    overview = dashboards.dashboard("overview", "en")
    exprs = {t["expr"] for p in overview["panels"] for t in p["targets"]}
    for key in KPI_KEYS:
        assert f'hospital_kpi_value{{kpi="{key}"}}' in exprs
        # A KPI measured without a target exports no target series: no line to draw.
        has_target = DOMAIN_TARGETS[key] is not None
        assert (f'hospital_kpi_target{{kpi="{key}"}}' in exprs) is has_target, key


def test_dashboards_only_use_documented_metric_names() -> None:
    docs = (dashboards.REPO / "docs" / "metrics.md").read_text()
    for spec in catalog.COUNTERS + catalog.GAUGES:
        assert f"`{spec.name}" in docs, f"{spec.name} is not documented in docs/metrics.md"


# --- issue 20: department variable, thresholds, what window a figure covers, gateways ---


def test_every_dashboard_has_the_department_variable_and_its_series_follow_it() -> None:
    for key in dashboards.DASHBOARDS:
        board = dashboards.dashboard(key, "zh")
        [variable] = board["templating"]["list"]
        assert (variable["name"], variable["includeAll"], variable["allValue"]) == (
            "department",
            True,
            ".*",
        )
    assert dashboards.for_department(
        'sum(increase(hospital_complaints_total[1d])) / sum(hospital_complaints_open{category="x"})'
        " + hospital:complaint_breaches:increase1h + hospital_followup_tasks_overdue_open"
    ) == (
        'sum(increase(hospital_complaints_total{department=~"$department"}[1d]))'
        ' / sum(hospital_complaints_open{department=~"$department",category="x"})'
        " + hospital:complaint_breaches:increase1h"  # no department label: left alone
        ' + hospital_followup_tasks_overdue_open{department=~"$department"}'
    )


def test_every_panel_says_what_window_its_figure_covers() -> None:
    for key in dashboards.DASHBOARDS:
        for lang in ("en", "zh"):
            for panel in dashboards.dashboard(key, lang)["panels"]:
                assert panel["description"], (key, lang, panel["title"])
    complaints = {p["title"]: p for p in dashboards.dashboard("complaints", "en")["panels"]}
    assert "24 hours" in complaints["Complaints per day, by category"]["description"]
    overview = dashboards.dashboard("overview", "en")["panels"]
    assert "pending" in overview[0]["description"] and "7 local days" in overview[0]["description"]


def test_a_kpi_panel_turns_red_on_the_wrong_side_of_its_target() -> None:
    panels = {p["title"]: p for p in dashboards.dashboard("overview", "en")["panels"]}
    floor = panels["Inpatient follow-up rate"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert floor == [{"color": "red", "value": None}, {"color": "green", "value": 0.95}]
    ceiling = panels["Dissatisfaction with registration"]["fieldConfig"]["defaults"]
    assert ceiling["thresholds"]["steps"] == [
        {"color": "green", "value": None},
        {"color": "red", "value": 0.02},
    ]


def test_the_gateways_and_staff_workload_have_panels() -> None:
    gateways = " ".join(dashboards.all_exprs())
    for series in (
        "registration_intakes_total",
        "registration_mllp_connections_total",
        "notifications_sms_handed_total",
    ):
        assert series in gateways
    titles = [p["title"] for p in dashboards.dashboard("followup", "en")["panels"]]
    assert any(t.startswith("Staff workload") for t in titles)


# Gauges every instance of a service sets to the same count, read from the shared database
# (notifications' reconciler): summed over two instances, a panel or alert shows twice the SMS.
SHARED_COUNTS = (
    "notifications_sms_receipt_overdue",
    "notifications_sms_outcome_unknown",
    "notifications_sms_waiting_for_gateway",
    "notifications_staff_waiting_for_server",
)


def test_a_count_every_instance_reports_alike_is_not_summed_over_instances() -> None:
    rules = dashboards.REPO / "deploy" / "prometheus" / "rules" / "hospital-metrics.yml"
    exprs = [*dashboards.all_exprs(), rules.read_text()]
    summed = re.compile(r"sum\s*(by\s*\([^)]*\)\s*)?\(\s*(" + "|".join(SHARED_COUNTS) + r")\b")
    found = [m.group(0) for e in exprs for m in summed.finditer(e)]
    assert found == [], f"summed over instances (use max): {found}"
