"""A year as the calendar screen is asked for it (console/calendar_years.py): in `?year=`,
`?edit=` and the form's `year`. "²" passed `isdigit()` and failed `int()`, 5,000 digits failed
`int()`, and a year 99999999999 with a line `1月1日放假` overflowed `date()`: each a 500. Now
a year the calendar cannot hold is refused naming `year`, and the form keeps what was typed.
The app in this process (tests/console/in_process.py) with complaints answered here."""

from __future__ import annotations

import httpx
import pytest

from tests.console.in_process import Console, console, idle_services

YEARS = {"years": [{"year": 2026, "holidays": 1, "workdays": 0, "source": "通知", "notice": ""}],
         "missing_years": []}  # fmt: skip
YEAR_2026 = {"year": 2026, "holidays": ["2026-01-01"], "workdays": [], "source": "通知",
             "notice": ""}  # fmt: skip


class Complaints:
    """The calendar's years; every calendar path asked for, and the PUTs."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.puts: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/calendar/"):
            self.asked.append(request.url.path)
        if request.method == "PUT":
            self.puts.append(request.url.path)
        if request.url.path == "/v1/calendar/years":
            return httpx.Response(200, json=YEARS)
        if request.url.path == "/v1/calendar/years/2026":
            return httpx.Response(200, json=YEAR_2026)
        return idle_services(request)


def _operations() -> tuple[Console, Complaints, str]:
    services = Complaints()
    app = console(services)
    session = app.sign_in(staff_id="S-OPS-01", roles=["admin"], department="OPS")
    return app, services, session.csrf_token


@pytest.mark.parametrize("asked", ["²", "9" * 5000, "99999999999", "2150", "1899", "abc"])
@pytest.mark.parametrize("where", ["year", "edit"])
def test_a_year_the_calendar_cannot_hold_in_the_address_is_refused_naming_year(
    where: str, asked: str
) -> None:
    app, services, _ = _operations()
    page = app.client.get("/calendar", params={where: asked, "saved": "1"})
    assert page.status_code == 422
    assert "year" in page.text and "年份须在 1900 至 2099 之间" in page.text
    assert services.asked == []  # nothing asked of complaints with it


def test_a_year_in_the_address_the_calendar_holds_is_shown_and_new_opens_an_empty_form() -> None:
    app, _, _ = _operations()
    assert app.client.get("/calendar?year=2026").status_code == 200
    edit = app.client.get("/calendar?edit=2026")
    assert edit.status_code == 200 and 'name="year" value="2026"' in edit.text
    assert app.client.get("/calendar?edit=new").status_code == 200


@pytest.mark.parametrize(
    ("year", "said"),
    [
        ("99999999999", "年份须在 1900 至 2099 之间"),  # was date()'s OverflowError: a 500
        ("2150", "年份须在 1900 至 2099 之间"),
        ("²", "格式不正确"),
        ("9" * 5000, "格式不正确"),
    ],
)
def test_a_posted_year_the_calendar_cannot_hold_is_shown_beside_year_with_the_form_kept(
    year: str, said: str
) -> None:
    app, services, csrf = _operations()
    form = {"csrf_token": csrf, "year": year, "days": "1月1日放假", "source": "国务院办公厅通知",
            "notice": ""}  # fmt: skip
    page = app.client.post("/calendar", data=form)
    assert page.status_code == 422
    assert said in page.text and 'id="err-year"' in page.text
    assert ">1月1日放假</textarea>" in page.text and 'value="国务院办公厅通知"' in page.text
    assert services.puts == []
