"""The Grafana dashboards, in English and Chinese, generated from one description so the two
languages never drift. `python -m metrics.dashboards` rewrites deploy/grafana/dashboards/;
a test checks the files are up to date and every query runs on the real Prometheus."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metrics import catalog
from metrics.kpi import KPIS, KpiDefinition

REPO = Path(__file__).resolve().parents[3]
DASHBOARDS_DIR = REPO / "deploy" / "grafana" / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}


@dataclass(frozen=True)
class Query:
    expr: str
    legend_en: str
    legend_zh: str


@dataclass(frozen=True)
class Panel:
    title_en: str
    title_zh: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"
    # (from value, colour) steps, the first from None; drawn as lines on a time series
    thresholds: tuple[tuple[float | None, str], ...] = ()
    # What window a figure covers; None: said from the queries (`window_description`).
    description: tuple[str, str] | None = None


def q(expr: str, legend_en: str = "", legend_zh: str = "") -> Query:
    return Query(expr, legend_en, legend_zh or legend_en)


def _kpi_panel(kpi: KpiDefinition, *, short: bool = False) -> Panel:
    """The KPI's value, against its target line when it has one (both from its definition;
    `short`: the definition's shorter panel title for a service dashboard). A KPI that is
    measured without a target (no-show rate, SMS delivery rate) exports no
    `hospital_kpi_target`, so a target query would never return data (and it gets no alert
    either)."""
    queries = [q(f'hospital_kpi_value{{kpi="{kpi.key}"}}', "value", "实际值")]
    steps: tuple[tuple[float | None, str], ...] = ()
    if kpi.target is not None:
        queries.append(q(f'hospital_kpi_target{{kpi="{kpi.key}"}}', "target", "目标"))
        steps = (
            ((None, "red"), (kpi.target, "green"))
            if kpi.minimum
            else ((None, "green"), (kpi.target, "red"))
        )
    en, zh = (kpi.panel_title if short else None) or (kpi.title_en, kpi.title_zh)
    return Panel(en, zh, tuple(queries), unit="percentunit", thresholds=steps)


def kpi_panels(dashboard: str) -> list[Panel]:
    """The panels of the KPIs whose definition puts them on `dashboard`, in catalog order."""
    return [_kpi_panel(k, short=True) for k in KPIS if k.dashboard == dashboard]


def zero_when_absent(expr: str, present: str) -> str:
    """`expr`, or 0 for each series of `present` while `expr` has none: a failure counter
    only exists after its first failure, and "no failures" should read 0, not "No data"."""
    return f"{expr} or {present} * 0"


OVERVIEW = [_kpi_panel(k) for k in KPIS] + [
    Panel(
        "Overdue follow-up calls now",
        "当前逾期回访",
        (q("sum(hospital_followup_tasks_overdue_open)", "overdue", "逾期"),),
        kind="stat",
        thresholds=((None, "green"), (20, "red")),  # FollowUpTasksOverdue: > 20 in a department
    ),
    Panel(
        "Open complaints",
        "未结投诉",
        (q("sum(hospital_complaints_open)", "open", "未结"),),
        kind="stat",
    ),
]

FOLLOWUP = [
    Panel(
        "Tasks planned per hour, by kind",
        "每小时计划回访（按类型）",
        (q("sum by (kind) (increase(hospital_followup_tasks_planned_total[1h]))", "{{kind}}"),),
    ),
    Panel(
        "Calls completed per hour, by outcome",
        "每小时完成回访（按结果）",
        (
            q(
                "sum by (outcome) (increase(hospital_followup_tasks_completed_total[1h]))",
                "{{outcome}}",
            ),
        ),
    ),
    Panel(
        "Unreachable and overdue per hour",
        "每小时未接通与逾期",
        (
            q(
                "sum(increase(hospital_followup_tasks_unreachable_total[1h]))",
                "unreachable",
                "未接通",
            ),
            q("sum(increase(hospital_followup_tasks_overdue_total[1h]))", "overdue", "逾期"),
        ),
    ),
    Panel(
        "Open and overdue tasks, by department",
        "各科室未完成与逾期任务",
        (
            q(
                "sum by (department) (hospital_followup_tasks_open)",
                "open {{department}}",
                "未完成 {{department}}",
            ),
            q(
                "sum by (department) (hospital_followup_tasks_overdue_open)",
                "overdue {{department}}",
                "逾期 {{department}}",
            ),
        ),
    ),
    Panel(
        "Satisfaction answers per day, by rating",
        "每日满意度回答（按评价）",
        (q("sum by (rating) (increase(hospital_satisfaction_answers_total[1d]))", "{{rating}}"),),
    ),
    Panel(
        "Inpatient calls completed / planned, 7 days",
        "出院回访完成/计划（7天）",
        (q("hospital:followup_reached:ratio7d", "ratio", "比例"),),
        unit="percentunit",
    ),
]

COMPLAINTS = [
    Panel(
        "Complaints per day, by category",
        "每日投诉（按类别）",
        (q("sum by (category) (increase(hospital_complaints_total[1d]))", "{{category}}"),),
    ),
    Panel(
        "Complaints per day, by channel",
        "每日投诉（按渠道）",
        (q("sum by (channel) (increase(hospital_complaints_total[1d]))", "{{channel}}"),),
    ),
    Panel(
        "Open complaints, by category",
        "未结投诉（按类别）",
        (q("sum by (category) (hospital_complaints_open)", "{{category}}"),),
    ),
    Panel(
        "Time-limit warnings and breaches per hour",
        "每小时时限预警与超时",
        (
            q(
                "sum by (limit) (increase(hospital_complaint_time_limit_warnings_total[1h]))",
                "warning {{limit}}",
                "预警 {{limit}}",
            ),
            q("hospital:complaint_breaches:increase1h", "breach {{limit}}", "超时 {{limit}}"),
        ),
    ),
    Panel(
        "Lifecycle steps per hour",
        "每小时流程节点",
        (q("sum by (status) (increase(hospital_complaint_transitions_total[1h]))", "{{status}}"),),
    ),
]

# Enquiries (咨询) and praise and suggestions (表扬、建议), beside the complaints.
COMPLAINTS += [
    Panel(
        "Enquiries answered per day, by channel and outcome",
        "每日咨询答复（按渠道、是否按时）",
        (
            q(
                "sum by (channel, outcome) (increase(hospital_enquiries_answered_total[1d]))",
                "{{channel}} {{outcome}}",
            ),
        ),
    ),
    Panel(
        "Enquiries escalated to a supervisor per hour, by channel",
        "每小时咨询超时升级（按渠道）",
        (
            q(
                'sum by (channel) (increase(hospital_enquiry_time_limit_alerts_total{outcome="escalated"}[1h]))',
                "{{channel}}",
            ),
        ),
    ),
    Panel(
        "Praise and suggestions per day",
        "每日表扬与建议",
        (q("sum by (kind) (increase(hospital_feedback_total[1d]))", "{{kind}}"),),
    ),
]

NOTIFICATIONS = [
    Panel(
        "SMS per hour, by status",
        "每小时短信（按状态）",
        (q("sum by (status) (increase(hospital_sms_messages_total[1h]))", "{{status}}"),),
    ),
    Panel(
        "SMS per day, by template",
        "每日短信（按模板）",
        (
            q(
                'sum by (template) (increase(hospital_sms_messages_total{status="submitted"}[1d]))',
                "{{template}}",
            ),
        ),
    ),
    Panel(
        "Delivered / finished, last hour",
        "近1小时送达率",
        (q("hospital:sms_delivered:ratio1h", "delivered", "送达"),),
        unit="percentunit",
    ),
]

PIPELINE = [
    Panel(
        "Consumer lag per group and topic (from Kafka)",
        "各消费组积压（Kafka）",
        (q("hospital:consumer_group_lag:sum", "{{group}} {{topic}}"),),
    ),
    Panel(
        "Consumer lag reported by each service",
        "各服务上报的积压",
        (q("sum by (group, topic) (hospital_consumer_lag)", "{{group}} {{topic}}"),),
    ),
    Panel(
        "Event time to processed, p95",
        "事件发生到处理延迟 p95",
        (q("hospital:event_delay_seconds:p95_5m", "{{service}} {{topic}}"),),
        unit="s",
    ),
    Panel(
        "Events handled per second, by result",
        "每秒处理事件（按结果）",
        (
            q(
                "sum by (service, result) (hospital:events_processed:rate5m)",
                "{{service}} {{result}}",
            ),
        ),
    ),
    Panel(
        "Dead-lettered per second",
        "每秒进入死信队列",
        (q("sum by (service, topic) (hospital:dead_letters:rate5m)", "{{service}} {{topic}}"),),
    ),
    Panel(
        "FastStream messages received and failing per second",
        "FastStream 每秒接收与异常",
        (
            q(
                "sum by (app_name) (rate(faststream_received_messages_total[5m]))",
                "received {{app_name}}",
                "接收 {{app_name}}",
            ),
            q(
                zero_when_absent(
                    "sum by (app_name) (rate(faststream_received_processed_messages_exceptions_total[5m]))",
                    "sum by (app_name) (rate(faststream_received_messages_total[5m]))",
                ),
                "errors {{app_name}}",
                "异常 {{app_name}}",
            ),
        ),
    ),
    Panel(
        "Outbox waiting and batch retries",
        "发件箱待发与批次重试",
        (
            q(
                "sum by (service) (hospital_outbox_pending)",
                "outbox {{service}}",
                "待发 {{service}}",
            ),
            q(
                zero_when_absent(
                    "sum by (service) (rate(hospital_consumer_retries_total[5m]))",
                    "sum by (service) (rate(hospital_events_processed_total[5m]))",
                ),
                "retries {{service}}",
                "重试 {{service}}",
            ),
        ),
    ),
]

# Registration queues (挂号排队超过8人以上，应及时汇报): live lengths against the limit, and the
# episodes above it (each told to the supervisor once).
QUEUES = [
    Panel(
        "Registration queue length, by queue",
        "挂号排队人数（按窗口）",
        (q("max by (department, queue) (hospital_registration_queue_length)", "{{queue}}"),),
    ),
    Panel(
        "Queues above the limit now",
        "当前超限排队",
        (q("sum(hospital_registration_queue_over_limit)", "queues", "窗口数"),),
        kind="stat",
        thresholds=((None, "green"), (1, "red")),
    ),
    Panel(
        "Queue episodes above the limit, by department",
        "排队超限次数（按科室）",
        (
            q(
                "sum by (department) (hospital_registration_queue_episodes_total)",
                "{{department}}",
            ),
        ),
    ),
]

# Staff workload (issue 20), by department: staff ids are never labels; each member's calls,
# reach rate and cases handled in time are `GET /v1/kpi/staff`. Calls that ended: completed
# (reached) or closed unreachable, both series in one selector (a sum of the two would drop
# a department that has only one of them).
_CALLS = (
    '{__name__=~"hospital_followup_tasks_(completed|unreachable)_total",department=~"$department"}'
)
FOLLOWUP += [
    Panel(
        "Staff workload: calls made per day, by department",
        "员工工作量：每日回访次数（按科室）",
        (q(f"sum by (department) (increase({_CALLS}[1d]))", "{{department}}"),),
    ),
    Panel(
        "Staff workload: reach rate per day, by department",
        "员工工作量：每日接通率（按科室）",
        (
            q(
                "sum by (department) (increase(hospital_followup_tasks_completed_total[1d]))"
                f" / sum by (department) (increase({_CALLS}[1d]))",
                "{{department}}",
            ),
        ),
        unit="percentunit",
    ),
]

# The doors of the platform (issue 20): the registration gateway (REST, batch), HL7 over MLLP
# and the SMS gateway (Kannel). Failure series exist after a first failure: 0 until then.
GATEWAYS = [
    Panel(
        "Registration gateway: facts received per minute, by channel and outcome",
        "挂号网关：每分钟接收（按渠道、结果）",
        (
            q(
                "sum by (channel, outcome) (rate(registration_intakes_total[5m])) * 60",
                "{{channel}} {{outcome}}",
            ),
        ),
    ),
    Panel(
        "HL7 over MLLP: connections per minute, by outcome",
        "HL7（MLLP）：每分钟连接（按结果）",
        (
            q(
                zero_when_absent(
                    "sum by (outcome) (rate(registration_mllp_connections_total[5m])) * 60",
                    'up{job="registration"}',
                ),
                "{{outcome}}",
            ),
        ),
    ),
    Panel(
        "HL7 messages being read now",
        "正在解析的HL7消息",
        (
            q(
                zero_when_absent(
                    "sum(registration_hl7_messages_parsing)", 'sum(up{job="registration"})'
                ),
                "parsing",
                "解析中",
            ),
        ),
        kind="stat",
    ),
    Panel(
        "SMS gateway: hand-overs per minute, by outcome",
        "短信网关：每分钟提交（按结果）",
        (
            q(
                zero_when_absent(
                    "sum by (outcome) (rate(notifications_sms_handed_total[5m])) * 60",
                    'up{job="notifications"}',
                ),
                "{{outcome}}",
            ),
        ),
    ),
    Panel(
        "SMS without a delivery receipt or with an unknown outcome, now",
        "短信：回执逾期与结果未知（当前）",
        (
            q(
                # max: every instance counts the same shared messages (reconciler.py)
                zero_when_absent(
                    "max(notifications_sms_receipt_overdue)", 'sum(up{job="notifications"})'
                ),
                "receipt overdue",
                "回执逾期",
            ),
            q(
                zero_when_absent(
                    "max(notifications_sms_outcome_unknown)", 'sum(up{job="notifications"})'
                ),
                "outcome unknown",
                "结果未知",
            ),
        ),
        thresholds=((None, "green"), (1, "red")),
    ),
]

DASHBOARDS: dict[str, tuple[str, str, list[Panel]]] = {
    "overview": ("Hospital operations: KPIs against targets", "医院运营总览：KPI 与目标", OVERVIEW),
    "followup": ("Follow-up calls", "回访", FOLLOWUP),
    "complaints": ("Complaints", "投诉", COMPLAINTS),
    "notifications": ("Notifications (SMS)", "通知（短信）", NOTIFICATIONS),
    "pipeline": ("Pipeline health", "消息管道健康", PIPELINE),
}
DASHBOARDS["queues"] = ("Registration queues", "挂号排队", QUEUES)
DASHBOARDS["gateways"] = ("Gateways: registration, HL7, SMS", "网关：挂号、HL7、短信", GATEWAYS)

# Series carrying a `department` label: a panel reading them follows the dashboard's
# department variable (All: every department).
DEPARTMENT_SERIES = sorted(
    {
        f"{spec.name}_total" if spec in catalog.COUNTERS else spec.name
        for spec in catalog.COUNTERS + catalog.GAUGES
        if "department" in spec.labels
    },
    key=len,
    reverse=True,
)
_SELECTOR = re.compile(r"\b(" + "|".join(map(re.escape, DEPARTMENT_SERIES)) + r")(?![\w:])(\{)?")
DEPARTMENT_MATCHER = 'department=~"$department"'


def for_department(expr: str) -> str:
    """`expr` with every department-labelled series restricted to the chosen departments."""

    def one(m: re.Match[str]) -> str:
        if m.group(2):
            return f"{m.group(1)}{{{DEPARTMENT_MATCHER},"
        return f"{m.group(1)}{{{DEPARTMENT_MATCHER}}}"

    return _SELECTOR.sub(one, expr)


_WINDOWS: tuple[tuple[str, str, str], ...] = (
    ("[1d]", "Each point: the increase over the 24 hours before it (rolling, not the calendar day).",
     "每个点：此前24小时内的增量（滚动窗口，不是自然日）。"),
    ("[7d]", "Each point: over the 7 days before it.", "每个点：此前7天内。"),
    ("[1h]", "Each point: the increase over the hour before it.", "每个点：此前1小时内的增量。"),
    ("increase1h", "Each point: the increase over the hour before it.", "每个点：此前1小时内的增量。"),
    ("ratio1h", "Each point: over the hour before it.", "每个点：此前1小时内。"),
    ("ratio7d", "Each point: over the 7 days before it.", "每个点：此前7天内。"),
    ("[5m]", "Each point: the average over the 5 minutes before it.", "每个点：此前5分钟的平均值。"),
    ("rate5m", "Each point: the average over the 5 minutes before it.", "每个点：此前5分钟的平均值。"),
    ("p95_5m", "Each point: over the 5 minutes before it.", "每个点：此前5分钟内。"),
)  # fmt: skip
_KPI_WINDOW = (
    "The cohort of the 7 local days that ended 3 days ago (METRICS_KPI_WINDOW_DAYS,"
    " METRICS_KPI_WINDOW_OFFSET_DAYS), re-read every 30 s; members whose window is still open"
    " are pending and not in the value (GET /v1/kpi reports them). The line is the target.",
    "统计队列：截至3天前的7个自然日（METRICS_KPI_WINDOW_DAYS、METRICS_KPI_WINDOW_OFFSET_DAYS），"
    "每30秒刷新；时限未到的对象计为待定，不计入数值（GET /v1/kpi 单列）。横线为目标值。",
)
_NOW = (
    "The value now, as last read (every few seconds).",
    "当前值（每几秒读取一次）。",
)


def window_description(p: Panel) -> tuple[str, str]:
    """What window the panel's figures cover, in English and Chinese."""
    if p.description is not None:
        return p.description
    exprs = " ".join(t.expr for t in p.queries)
    if "hospital_kpi_value" in exprs:
        return _KPI_WINDOW
    for marker, en, zh in _WINDOWS:
        if marker in exprs:
            return en, zh
    return _NOW


def _defaults(p: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": p.unit}
    if p.thresholds:
        steps = [{"color": colour, "value": value} for value, colour in p.thresholds]
        defaults["thresholds"] = {"mode": "absolute", "steps": steps}
        if p.kind == "timeseries":
            defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
    return defaults


def _panel(p: Panel, lang: str, n: int) -> dict[str, Any]:
    width = 8 if p.kind == "timeseries" else 4
    per_row = 24 // width
    en, zh = window_description(p)
    return {
        "id": n + 1,
        "type": p.kind,
        "title": p.title_en if lang == "en" else p.title_zh,
        "description": en if lang == "en" else zh,
        "datasource": DATASOURCE,
        "gridPos": {"x": (n % per_row) * width, "y": (n // per_row) * 8, "w": width, "h": 8},
        "fieldConfig": {"defaults": _defaults(p), "overrides": []},
        "options": {},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": for_department(t.expr),
                "legendFormat": t.legend_en if lang == "en" else t.legend_zh,
            }
            for i, t in enumerate(p.queries)
        ],
    }


def dashboard(key: str, lang: str) -> dict[str, Any]:
    title_en, title_zh, own = DASHBOARDS[key]
    panels = own if key == "overview" else [*own, *kpi_panels(key)]
    return {
        "uid": f"hospital-{key}-{lang}",
        "title": title_en if lang == "en" else title_zh,
        "tags": ["hospital", lang],
        # Grafana's default: its `[users] default_timezone`, which docker-compose.yml sets
        # from HOSPITAL_TZ, the time zone of the KPIs' days (a fixed zone here was wrong for
        # any hospital that sets another).
        "timezone": "",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": [_department_variable(lang)]},
        "panels": [_panel(p, lang, i) for i, p in enumerate(panels)],
    }


def _department_variable(lang: str) -> dict[str, Any]:
    """`$department`: the departments seen in the follow-up and complaint series, several
    at once or All (every department, those without data included)."""
    return {
        "name": "department",
        "label": "Department" if lang == "en" else "科室",
        "type": "query",
        "datasource": DATASOURCE,
        "query": {
            "query": "label_values(hospital_discharges_total, department)",
            "refId": "department",
        },
        "definition": "label_values(hospital_discharges_total, department)",
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def rendered() -> dict[Path, str]:
    return {
        DASHBOARDS_DIR / f"hospital-{key}.{lang}.json": json.dumps(
            dashboard(key, lang), indent=2, ensure_ascii=False
        )
        + "\n"
        for key in DASHBOARDS
        for lang in ("en", "zh")
    }


def all_exprs() -> list[str]:
    """Every panel expression as the dashboards hold it (with `$department`)."""
    return [
        for_department(t.expr)
        for key, (_, _, panels) in DASHBOARDS.items()
        for p in [*panels, *kpi_panels(key)]
        for t in p.queries
    ]


if __name__ == "__main__":
    for path, text in rendered().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        sys.stdout.write(f"wrote {path}\n")
