"""The PromQL the operators run: every expression of every Grafana panel (dashboard JSON in
the repo) and every recording and alerting rule (the rule files Prometheus loads), ready to be
sent to Prometheus's HTTP API. Pure: no I/O beyond reading those files."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS_DIR = REPO / "deploy" / "grafana" / "dashboards"
RULES_DIR = REPO / "deploy" / "prometheus" / "rules"

# Grafana's built-in interval variables, as Grafana would resolve them for a "last 1 hour"
# view on a 5 s scrape: `$__rate_interval` is at least four scrape intervals, so a rate over
# it always has two samples; 1m leaves room for a missed scrape.
GRAFANA_BUILTINS: dict[str, str] = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")


@dataclass(frozen=True)
class Expression:
    where: str  # "hospital-followup.zh.json / 每日满意度回答（按评价） / A", "rule hospital:x"
    expr: str
    kind: str  # "panel", "record" or "alert"


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """`expr` with Grafana variables (`$x`, `${x}`, `${x:regex}`, `[[x]]`) replaced by
    `values`, then Grafana's built-ins; an unknown variable is an error, so a new dashboard
    variable cannot slip through untested."""

    def one(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name in values:
            return values[name]
        if name in GRAFANA_BUILTINS:
            return GRAFANA_BUILTINS[name]
        raise KeyError(f"no test value for the Grafana variable ${name} in {expr!r}")

    return _VARIABLE.sub(one, expr)


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # rows keep their panels inside


def dashboard_expressions(variables: Mapping[str, str]) -> list[Expression]:
    found = []
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in _panels(board.get("panels", [])):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    where = f"{path.name} / {panel.get('title')} / {target.get('refId')}"
                    found.append(Expression(where, substitute(target["expr"], variables), "panel"))
    return found


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in sorted([*RULES_DIR.glob("*.yml"), *RULES_DIR.glob("*.yaml")]):
        groups.extend((yaml.safe_load(path.read_text()) or {}).get("groups", []))
    return groups


def rule_expressions() -> list[Expression]:
    found = []
    for group in rule_groups():
        for rule in group["rules"]:
            if "record" in rule:
                found.append(Expression(f"record {rule['record']}", rule["expr"], "record"))
            else:
                found.append(Expression(f"alert {rule['alert']}", rule["expr"], "alert"))
    return found


_COMPARISON = re.compile(r"==|!=|>=|<=|>|<")


def as_bool_comparisons(expr: str) -> str:
    """`expr` with every filtering comparison turned into its `bool` form.

    `a > 20` keeps only the series above 20 and is empty when none is; `a > bool 20` keeps
    every series of `a` that has a partner on the right, valued 1 (true) or 0 (false). So the
    bool form returns data exactly when every operand returns data and the operands' labels
    match, whatever the comparison decides. Label matchers (`{a!="x"}`), strings and range
    selectors are left alone."""
    out: list[str] = []
    depth_braces = 0
    depth_brackets = 0
    quote: str | None = None
    i = 0
    while i < len(expr):
        ch = expr[i]
        if quote:
            out.append(ch)
            if ch == "\\" and i + 1 < len(expr):
                out.append(expr[i + 1])
                i += 2
                continue
            if ch == quote:
                quote = None
            i += 1
            continue
        if ch in "\"'`":
            quote = ch
        elif ch == "{":
            depth_braces += 1
        elif ch == "}":
            depth_braces -= 1
        elif ch == "[":
            depth_brackets += 1
        elif ch == "]":
            depth_brackets -= 1
        elif depth_braces == 0 and depth_brackets == 0:
            match = _COMPARISON.match(expr, i)
            if match:
                op = match.group()
                rest = expr[match.end() :]
                out.append(op)
                if not re.match(r"\s*bool\b", rest):
                    out.append(" bool")
                i = match.end()
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def has_comparison(expr: str) -> bool:
    return as_bool_comparisons(expr) != expr or re.search(r"\bbool\b", expr) is not None
