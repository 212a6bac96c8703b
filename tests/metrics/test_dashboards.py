"""The Grafana dashboards: generated, both languages, every KPI against its target line."""

from __future__ import annotations

import json

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
