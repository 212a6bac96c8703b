"""The end-to-end test's reading of PromQL (tests/e2e/promql.py): conditions in bool form,
Grafana variables substituted, every expression of the repo's dashboards and rules found."""

from __future__ import annotations

import pytest

from metrics import alerting, dashboards
from tests.e2e import promql


def test_a_comparison_becomes_its_bool_form_and_matchers_stay() -> None:
    expr = 'sum by (s) (increase(x_total{result!~"ok|dup",a!="b>c"}[15m])) > 0'
    assert promql.as_bool_comparisons(expr) == (
        'sum by (s) (increase(x_total{result!~"ok|dup",a!="b>c"}[15m])) > bool 0'
    )
    both = 'v{kpi="k"} < on(kpi) t{kpi="k"} and on(kpi) d{kpi="k"} > 0'
    assert promql.as_bool_comparisons(both) == (
        'v{kpi="k"} < bool on(kpi) t{kpi="k"} and on(kpi) d{kpi="k"} > bool 0'
    )
    assert promql.as_bool_comparisons("a >= bool b") == "a >= bool b"
    assert promql.has_comparison(both)
    assert not promql.has_comparison('sum(rate(x{a="b"}[5m])) / sum(rate(y[5m]))')


def test_grafana_variables_are_substituted_and_unknown_ones_refused() -> None:
    expr = 'rate(x{department=~"$department"}[$__rate_interval]) + y{d="${department:regex}"}'
    assert promql.substitute(expr, {"department": "CARD"}) == (
        'rate(x{department=~"CARD"}[1m]) + y{d="CARD"}'
    )
    with pytest.raises(KeyError, match="ward"):
        promql.substitute('x{w="$ward"}', {})


def test_every_expression_of_the_repo_files_is_found() -> None:
    panels = promql.dashboard_expressions({"department": ".*"})
    assert len(panels) == 2 * len(dashboards.all_exprs())  # English and Chinese files
    rules = promql.rule_expressions()
    in_generator = [r["expr"] for g in alerting.rules_document()["groups"] for r in g["rules"]]
    assert [r.expr for r in rules] == in_generator
