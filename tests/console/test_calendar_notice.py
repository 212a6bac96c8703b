"""Reading a year's days off and make-up working days as operations paste them from the State
Council's notice (console/calendar_notice.py), and the calendar screen's pure parts
(console/calendar_years.py): before it, operations typed ISO dates into hand-made
`PUT /v1/calendar/years/{year}` calls. The screen on the real stack is
tests/e2e/test_console_calendar.py's."""

from __future__ import annotations

import tomllib
from datetime import date

import pytest

from console.calendar_notice import NoticeError, UnruledLine, notice_days, notice_text, runs
from console.calendar_years import from_lines, month_grid, year_body, year_view
from console.refusals import field_reason
from hospital_shared.calendar_store import DATA

# The 2026 items as the notice words them, with its opening and signature around them.
NOTICE_2026 = """国务院办公厅关于2026年部分节假日安排的通知
经国务院批准，现将2026年元旦、春节、清明节、劳动节、端午节、中秋节和国庆节放假调休日期的具体安排通知如下。
一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。
二、春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。2月14日（周六）、2月28日（周六）上班。
三、清明节：4月4日（周六）至6日（周一）放假，共3天。
四、劳动节：5月1日（周五）至5日（周二）放假调休，共5天。5月9日（周六）上班。
五、端午节：6月19日（周五）至21日（周日）放假，共3天。
六、中秋节：9月25日（周五）至27日（周日）放假，共3天。
七、国庆节：10月1日（周四）至7日（周三）放假调休，共7天。9月20日（周日）、10月10日（周六）上班。
节假日期间，各地区、各部门要妥善安排好值班和安全、保卫等工作。
国务院办公厅
2025年11月4日
"""


def d(text: str) -> date:
    return date.fromisoformat(text)


def test_the_notice_pasted_whole_gives_the_years_days_as_the_bundled_calendar_has_them() -> None:
    bundled = tomllib.loads((DATA / "2026.toml").read_text("utf-8"))
    days = notice_days(NOTICE_2026, 2026)
    assert list(days.holidays) == bundled["holidays"]
    assert list(days.workdays) == bundled["workdays"]


def test_days_off_and_a_day_worked_in_one_sentence_are_each_what_follows_them() -> None:
    # The prober's paste: the whole sentence says 上班, and 5月1日至2日 were saved as worked.
    days = notice_days("1月1日放假\n5月1日至2日放假，4月25日上班", 2027)
    assert days.holidays == (d("2027-01-01"), d("2027-05-01"), d("2027-05-02"))
    assert days.workdays == (d("2027-04-25"),)


@pytest.mark.parametrize(
    "item",
    [
        "四、劳动节：5月1日（星期六）至3日（星期一）放假，共3天，4月25日（星期日）上班。",
        "四、劳动节：5月1日至3日放假调休,共3天,4月25日（星期日）调休上班",
        "四、劳动节：4月25日（星期日）上班，5月1日（星期六）至3日（星期一）放假，共3天。",
        "四、劳动节：5月1日至3日放假、4月25日上班",
    ],
)
def test_clauses_joined_by_commas_give_each_date_the_word_of_its_own_clause(item: str) -> None:
    days = notice_days(item, 2027)
    assert days.holidays == (d("2027-05-01"), d("2027-05-02"), d("2027-05-03"))
    assert days.workdays == (d("2027-04-25"),)


def test_a_list_of_days_worked_after_the_days_off_shares_the_word_after_it() -> None:
    # The notice's 春节 item with its two sentences joined by a comma (。 → ，).
    item = (
        "二、春节：2月6日（星期六）至12日（星期五）放假调休，共7天，"
        "1月31日（星期日）、2月20日（星期六）上班。"
    )
    days = notice_days(item, 2027)
    assert days.holidays == tuple(d(f"2027-02-{n:02}") for n in range(6, 13))
    assert days.workdays == (d("2027-01-31"), d("2027-02-20"))


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("5月1日至2日，4月25日上班", "2027-05-01"),  # which is 5月1日? (was: worked)
        ("元旦：1月1日放假\n上班：1月31日", "2027-01-31"),  # the word before (was: worked)
        ("1月1日放假，共1天，1月31日（星期日）", "2027-01-31"),  # the word left off
        ("2027-01-01 元旦，2027-01-31 上班", "2027-01-01"),  # ISO, but the line says 上班
    ],
)
def test_a_line_whose_dates_cannot_be_told_off_or_worked_is_refused_naming_it(
    text: str, day: str
) -> None:
    with pytest.raises(UnruledLine) as refused:
        notice_days(text, 2027)
    line = len(text.splitlines())
    assert (refused.value.line, refused.value.text) == (line, text.splitlines()[-1])
    assert refused.value.day == d(day)
    shown = year_body({"year": "2027", "days": text, "source": "通知", "notice": ""})[2]["days"]
    assert f"第 {line} 行" in shown.zh and "没有写明放假还是上班" in shown.zh and day in shown.zh
    assert f"Line {line}" in shown and "neither 放假 (off) nor 上班 (worked)" in shown


def test_a_weekday_the_service_refuses_as_make_up_day_names_the_line_it_came_from() -> None:
    text = "元旦：1月1日放假\n春节：2月6日至12日放假调休，共7天。1月31日、2月8日上班。"
    refused = field_reason("value_error", "2027-02-08 is not a weekend day")
    shown = from_lines(refused, text, 2027)
    assert shown.zh == (
        "第 2 行「春节：2月6日至12日放假调休，共7天。1月31日、2月8日上班。」："
        "2027-02-08 不是周末，不能作为调休上班日（调休上班日都是周六或周日）"
    )
    assert str(shown).startswith("From line 2, “春节：") and "2027-02-08 is a weekday" in shown
    both = from_lines(field_reason("value_error", "2027-01-01 is also a holiday"),
                      "1月1日放假\n1月1日上班", 2027)  # fmt: skip
    assert both.zh.startswith("第 1 行「1月1日放假」、第 2 行「1月1日上班」：2027-01-01 既填为")
    source = field_reason("", "say where the schedule comes from")
    assert from_lines(source, text, 2027) is source  # no date: as the service said it


def test_iso_dates_and_ranges_count_without_a_keyword_and_worked_days_say_so() -> None:
    days = notice_days(
        "2027-01-01 元旦\n2027-02-06..2027-02-08\n2027-01-31 上班\n2027-02-20 work", 2027
    )
    assert days.holidays == (d("2027-01-01"), d("2027-02-06"), d("2027-02-07"), d("2027-02-08"))
    assert days.workdays == (d("2027-01-31"), d("2027-02-20"))


def test_a_range_over_new_year_ends_in_the_next_year_for_the_service_to_refuse() -> None:
    days = notice_days("元旦：12月31日至1月1日放假", 2026)
    assert days.holidays == (d("2026-12-31"), d("2027-01-01"))  # the service: not in 2026
    explicit = notice_days("元旦：2022年12月31日至2023年1月2日放假调休", 2023)
    assert explicit.holidays[0] == d("2022-12-31") and explicit.holidays[-1] == d("2023-01-02")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("一、元旦：1月1日放假\n二、春节：2月30日放假", 2),  # no such day
        ("春节：2月三十日放假", 1),  # a date mistyped: a month and no day read
        ("春节：6日至12日放假", 1),  # a day without its month
        ("2027-01-01 至 2027-03-01 放假", 1),  # a range no notice gives
    ],
)
def test_a_line_that_cannot_be_read_is_named_not_dropped(text: str, line: int) -> None:
    with pytest.raises(NoticeError) as refused:
        notice_days(text, 2027)
    assert refused.value.line == line
    assert refused.value.text == text.splitlines()[line - 1]


def test_a_saved_year_is_written_back_as_runs_and_reads_the_same() -> None:
    days = notice_days(NOTICE_2026, 2026)
    text = notice_text(days.holidays, days.workdays)
    assert text.splitlines()[:3] == [
        "2026-01-01 至 2026-01-03 放假", "2026-01-04 上班", "2026-02-14 上班",
    ]  # fmt: skip
    assert notice_days(text, 2026) == days
    assert runs([d("2026-05-01"), d("2026-05-03"), d("2026-05-02")]) == [
        (d("2026-05-01"), d("2026-05-03"))
    ]


def test_the_form_becomes_the_services_body_or_the_consoles_own_error() -> None:
    typed = {"year": "2027", "days": "1月1日放假。1月31日上班。", "source": "通知", "notice": ""}
    year, body, errors = year_body(typed)
    assert (year, errors) == (2027, {})
    assert body == {"holidays": ["2027-01-01"], "workdays": ["2027-01-31"], "source": "通知",
                    "notice": ""}  # fmt: skip
    assert year_body(typed | {"year": "二〇二七"})[2] == {"year": "invalid"}
    assert year_body(typed | {"year": ""})[2] == {"year": "required"}
    refused = year_body(typed | {"days": "春节：2月30日放假"})[2]["days"]
    assert "2月30日" in refused.zh and "第 1 行" in refused.zh and "Line 1" in refused


def test_a_year_the_calendar_cannot_hold_is_the_consoles_error_not_a_500() -> None:
    typed = {"year": "2027", "days": "1月1日放假", "source": "通知", "notice": ""}
    assert year_body(typed | {"year": "²"})[2] == {"year": "invalid"}  # int("²") raised
    assert year_body(typed | {"year": "9" * 5000})[2] == {"year": "invalid"}  # so did this
    for year in ("99999999999", "2100", "1899"):  # 99999999999: date() overflowed
        assert year_body(typed | {"year": year})[2]["year"].zh == "年份须在 1900 至 2099 之间"
    with pytest.raises(NoticeError):  # the reader itself names the line, whatever the year
        notice_days("1月1日放假", 99_999_999_999)


def test_the_year_shows_as_months_and_a_dated_list() -> None:
    grid = month_grid(2027, {d("2027-02-08")}, {d("2027-02-20")})
    february = grid[1]["weeks"]
    cells = {cell[0]: cell[1] for week in february for cell in week if cell}
    assert cells[d("2027-02-08")] == "off" and cells[d("2027-02-20")] == "work"
    assert cells[d("2027-02-21")] == "weekend" and cells[d("2027-02-22")] == ""
    assert february[0][0] == (d("2027-02-01"), "")  # a Monday
    assert grid[0]["weeks"][0][:4] == [None] * 4  # 2027 begins on a Friday
    shown = year_view({"year": 2027, "holidays": ["2027-02-06", "2027-02-07", "2027-02-08"],
                       "workdays": ["2027-01-31"], "source": "s", "notice": ""})  # fmt: skip
    assert [(r["first"], r["days"], r["kind"]) for r in shown["dated"]] == [
        (d("2027-01-31"), 1, "work"), (d("2027-02-06"), 3, "off"),
    ]  # fmt: skip
