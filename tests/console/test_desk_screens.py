"""The pure parts of the desk, supervisor and operations screens: countdown states and words,
the forms' bodies, the charts, the trend's periods and the monthly report's sections."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from starlette.datastructures import FormData

from console.case_actions import ACTIONS, body_of
from console.charts import Bar, bar_chart, label_lines, line_chart, text_width
from console.operations import earlier, period_label, report_sections
from console.supervisor import team_rows
from console.time_limits import countdown, remaining_text, worst_state

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def limit(hours_left: float, *, span: float = 24, state: str = "running") -> dict[str, object]:
    due = NOW + timedelta(hours=hours_left)
    return {
        "limit": "first_response", "state": state, "due_at": due.isoformat(),
        "warn_at": (due - timedelta(hours=span * 0.2)).isoformat(),
    }  # fmt: skip


def test_a_running_limit_turns_to_warning_past_80_percent_and_to_breached_past_due() -> None:
    assert countdown(limit(10), NOW).state == "running"
    assert countdown(limit(4), NOW).state == "warning"
    assert countdown(limit(-1), NOW).state == "breached"
    assert countdown(limit(-1), NOW).seconds_left == -3600


def test_a_limit_at_its_due_instant_is_not_yet_breached() -> None:
    assert countdown(limit(0), NOW).state == "warning"  # it can still be met at that instant


def test_a_settled_limit_keeps_its_outcome_and_does_not_count_down() -> None:
    met = countdown(limit(-5, state="met"), NOW)
    assert (met.state, met.running) == ("met", False)


def test_the_queue_colours_a_case_by_its_worst_running_limit() -> None:
    items = [countdown(limit(10), NOW), countdown(limit(-1), NOW), countdown(limit(3), NOW)]
    assert worst_state(items) == "breached"
    assert worst_state([countdown(limit(-1, state="late"), NOW)]) is None


def test_the_remaining_time_reads_in_chinese_and_english() -> None:
    assert remaining_text(2 * 86400 + 3 * 3600 + 120, "zh") == "剩余2天3小时"
    assert remaining_text(3 * 3600 + 5 * 60, "zh") == "剩余3小时5分"
    assert remaining_text(-(40 * 60), "zh") == "超时40分"
    assert remaining_text(-(26 * 3600), "en") == "1d 2h overdue"
    assert remaining_text(30, "en") == "0m left"


def test_a_step_form_sends_the_step_and_only_the_fields_given() -> None:
    form = FormData([("to", "resolution_proposed"), ("note", " "), ("resolution", "道歉"),
                     ("resolution_kind", "apology"), ("csrf_token", "x")])  # fmt: skip
    assert body_of(ACTIONS["step"], form) == {
        "to": "resolution_proposed", "resolution": "道歉", "resolution_kind": "apology",
    }  # fmt: skip
    validity = body_of(ACTIONS["validity"], FormData([("founded", "no"), ("reason", "")]))
    assert validity == {"founded": False, "reason": ""}  # the service names the blank reason


def test_the_bar_chart_marks_met_and_missed_targets_and_escapes_labels() -> None:
    svg = str(bar_chart([Bar("满意率<", 0.97, 0.95, True), Bar("b", 0.5, 0.95, False),
                         Bar("c", None)], title="t"))  # fmt: skip
    assert svg.startswith("<svg") and "<title>t</title>" in svg
    assert "#1e7b34" in svg and "#b3261e" in svg and "满意率&lt;" in svg
    assert "97.0%" in svg and "—" in svg


def test_the_line_chart_leaves_gaps_and_colours_points_against_the_target() -> None:
    svg = str(line_chart([("W1", 0.9), ("W2", None), ("W3", 0.99)], title="t", target=0.95))
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 2
    lower = str(line_chart([("W1", 0.01)], title="t", target=0.02, lower_is_better=True))
    assert "#1e7b34" in lower


def test_the_trend_steps_back_whole_periods() -> None:
    day = date(2026, 2, 14)
    assert earlier("day", day, 3) == date(2026, 2, 11)
    assert earlier("week", day, 2) == date(2026, 1, 31)
    assert earlier("month", day, 2) == date(2025, 12, 1)
    assert earlier("quarter", day, 1) == date(2025, 11, 1)
    assert period_label("quarter", date(2025, 11, 1)) == "2025Q4"


def test_the_monthly_report_is_read_per_department_hospital_first() -> None:
    body = (
        "\ufeffperiod,start,end,department,kpi,value\nmonth,a,b,CARD,x,0.5\nmonth,a,b,ALL,x,0.9\n"
    )
    sections = report_sections(body)
    assert [d for d, _ in sections] == ["ALL", "CARD"]
    assert sections[1][1][0]["value"] == "0.5"


def test_the_team_joins_roster_tasks_and_cases_per_person() -> None:
    rows = team_rows(
        [{"staff_id": "S-1", "name": "王", "role": "agent"}],
        {"staff": [{"assignee_id": "S-1", "open_tasks": 4, "overdue": 1}]},
        {"handlers": [{"assignee_id": "S-9", "open_cases": 2, "warning": 1, "breached": 0},
                      {"assignee_id": None, "open_cases": 1, "warning": 0, "breached": 0}]},
    )  # fmt: skip
    assert rows == [
        {"staff_id": "S-1", "name": "王", "role": "agent", "active": True, "open_tasks": 4,
         "overdue_tasks": 1},
        {"staff_id": "S-9", "open_cases": 2, "warning": 1, "breached": 0},
    ]  # fmt: skip


async def test_the_supervisor_screen_shows_25_of_a_kind_and_links_the_rest_in_the_queue() -> None:
    from console.supervisor import SHOWN_CASES, _cases

    class Api:
        async def get(self, *_: object, params: dict[str, object], **__: object) -> object:
            case = {"case_number": "TS-1", "time_limits": []}
            page = int(str(params["limit"]))
            return {"items": [case] * page, "next": "/v1/cases?cursor=c", "limit": page}

    found = await _cases(Api(), None, None, time_limit="breached")  # type: ignore[arg-type]
    assert len(found["cases"]) == SHOWN_CASES == 25
    assert found["more"] == "/cases?open=open&time_limit=breached"


def test_a_kpi_with_figures_but_no_target_says_no_target_not_no_data() -> None:
    from console.pages import build_templates
    from console.wording import translate

    page = build_templates("Asia/Shanghai").from_string(
        "{% from 'operations/kpi_met.html' import met with context %}{{ met(k) }}"
    )
    t = lambda key: translate(key, "zh")  # noqa: E731
    no_target = {"target": None, "met": None, "numerator": 6, "denominator": 8}
    no_data = {"target": 0.95, "met": None, "numerator": 0, "denominator": 0}
    assert "无目标" in page.render(k=no_target, t=t)
    assert "无数据" in page.render(k=no_data, t=t)


def test_a_label_too_long_for_the_chart_goes_on_two_lines_and_its_row_grows() -> None:
    long = "Unfounded complaints closed after clearing up the misunderstanding"
    assert label_lines(long, 254) == ["Unfounded complaints closed after",
                                      "clearing up the misunderstanding"]  # fmt: skip
    assert label_lines("不成立投诉消除误会结案率", 254) == ["不成立投诉消除误会结案率"]
    assert all(text_width(line) <= 100 for line in label_lines("很" * 30, 100))
    one, two = bar_chart([Bar("a", 0.5)], title="t"), bar_chart([Bar(long, 0.5)], title="t")
    assert two.count("<tspan") == 2 and 'height="57"' in two and 'height="42"' in one
