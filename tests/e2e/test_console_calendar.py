"""The working-day calendar's screen (工作日历) on the real stack: before it, operations added a
year of the State Council's holidays and make-up working days (调休) with hand-made
`PUT /v1/calendar/years/{year}` calls, and only a case's page said a year was missing.

- Operations open it from the menu (设置 → 工作日历): 2027 is named as missing for an open case (this
  complaints instance gives fact-finding 50 working days, so a case lodged now runs into
  2027); they paste the notice's items with a weekday given as make-up day: the service's
  refusal beside the text, in Chinese, the text kept, nothing saved; corrected, it is saved:
  the year's page (a reload posts nothing) with its month grid and dated list, no more
  missing, and the complaints service's own `GET /v1/calendar/years/2027` has the days.
- A line whose dates cannot be told off or worked (a date no 放假 or 上班 follows in its clause)
  is the console's refusal beside the text naming the line, in both languages, nothing sent.
- In English, the same refusal; a supervisor has no menu entry and is refused the screen
  (the service lets only operations read the calendar).

The 2027 days are TEST DATA shaped like a notice (tests/data/calendar-2027.json), not the
State Council's; 2027 is forgotten before and after. Screenshots go to
test-artifacts/screenshots/ (1366x768)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from tests.browser import has_no_horizontal_scroll, open_setting, page_as, screenshot, submit
from tests.integration.services import RunningService, running_all
from tests.integration.test_working_calendar import TEST_2027, forget_2027, open_case

SERVICES = ("complaints", "console")
ADMIN = {"Authorization": "Bearer dev-admin-token"}
NOTICE = """国务院办公厅关于2027年部分节假日安排的通知（测试数据）
一、元旦：1月1日（周五）放假，共1天。
二、春节：2月6日（星期六）至12日（星期五）放假调休，共7天。1月31日（星期日）、2月22日（星期一）上班。"""
FIXED = NOTICE.replace("2月22日（星期一）", "2月20日（星期六）")
# 5月1日至2日 has no 放假 after it: before, the sentence's 上班 made all three days worked.
UNRULED = "一、元旦：1月1日（周五）放假，共1天。\n四、劳动节：5月1日（星期六）至2日（星期日），4月25日（星期日）上班。"


@pytest.fixture(scope="module")
async def stack(stack_config, stack_env) -> AsyncIterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    await forget_2027(stack_env["DATABASE_URL"])
    env = {"complaints": {"COMPLAINTS_FACT_FINDING_WORKING_DAYS": "50"}}
    with running_all(stack_config, SERVICES, env) as services:
        async with httpx.AsyncClient(base_url=services["complaints"].url, timeout=10) as http:
            assert (await open_case(http))["calendar_missing_years"] == [2027]
        yield services
    await forget_2027(stack_env["DATABASE_URL"])


@pytest.fixture(scope="module")
async def lodged(stack: dict[str, RunningService]) -> str:
    """A case whose fact-finding was counted over the missing 2027: due Tue 2027-02-09, in the
    Spring Festival, until 2027 is entered."""
    async with httpx.AsyncClient(base_url=stack["complaints"].url, timeout=10) as http:
        number: str = (await open_case(http))["case_number"]
    return number


async def test_a_case_counted_without_2027_links_operations_to_the_calendar(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str], lodged: str
) -> None:
    page = await page_as(browser, stack, stack_env, "dev-admin-token")
    await page.goto(f"{stack['console'].url}/cases/{lodged}")
    warning = await page.inner_text("#calendar-missing")
    assert "按周一至周五计算" in warning and "2027" in warning
    assert "2027-02-09 10:00" in await page.inner_text(".limits-list")
    await screenshot(page, "case-calendar-missing")
    async with page.expect_navigation():
        await page.click("#calendar-missing >> a")
    assert page.url.endswith("/calendar")
    assert "2027" in await page.inner_text("#cal-missing")

    # Not operations (the director): no link to a screen they are refused; the recount said.
    director = await page_as(browser, stack, stack_env, "dev-director-token")
    await director.goto(f"{stack['console'].url}/cases/{lodged}")
    assert await director.locator("#calendar-missing a").count() == 0
    assert "时限将自动重新计算" in await director.inner_text("#calendar-missing")
    await screenshot(director, "case-calendar-missing-director")


async def year_2027(stack: dict[str, RunningService]) -> dict[str, Any] | None:
    """2027 as the complaints service has it (the API the screen calls), None when missing."""
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(f"{stack['complaints'].url}/v1/calendar/years/2027", headers=ADMIN)
    if resp.status_code == 404:
        return None
    resp.raise_for_status()
    found: dict[str, Any] = resp.json()
    return found


async def test_operations_enter_2027_from_the_notice_after_a_refused_make_up_day(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str], lodged: str
) -> None:
    page = await page_as(browser, stack, stack_env, "dev-admin-token")
    assert await open_setting(page, stack["console"].url, "工作日历") == "工作日历"
    assert "2027" in await page.inner_text("#cal-missing")
    assert "2026" in await page.inner_text("#cal-row-2026")
    async with page.expect_navigation():
        await page.click("#cal-missing >> text=录入 2027 年")
    assert await page.input_value("#cal-year") == "2027"
    await page.fill("#cal-days", NOTICE)
    await page.fill("#cal-source", TEST_2027["source"])
    await submit(page)
    refused = await page.inner_text("#err-days")
    assert "2027-02-22 不是周末" in refused
    assert (
        f"第 3 行「{NOTICE.splitlines()[2]}」：2027-02-22 不是周末" in refused
    )  # where it came from
    assert await page.get_attribute("#cal-days", "aria-describedby") == "err-days"
    assert await page.input_value("#cal-days") == NOTICE
    assert await page.input_value("#cal-source") == TEST_2027["source"]
    assert await year_2027(stack) is None  # nothing saved
    await screenshot(page, "calendar-refused")
    await page.fill("#cal-days", FIXED)
    await submit(page)
    # POST-redirect-GET: the year's page, where a reload posts nothing again
    assert page.url.endswith("/calendar?year=2027&saved=1#cal-saved")
    await page.reload()
    assert "已保存 2027 年的工作日历" in await page.inner_text("#cal-saved")
    assert await page.locator("#cal-missing").count() == 0
    dated = await page.inner_text("#cal-dated")
    assert "2027-02-06（周六） 至 2027-02-12（周五） 放假，共 7 天" in dated
    assert "2027-01-31（周日） 调休上班" in dated
    assert await page.get_attribute("td[title='2027-02-20（周六）']", "class") == "cal-work"
    saved = await year_2027(stack)
    assert saved is not None
    assert (saved["holidays"], saved["workdays"]) == (TEST_2027["holidays"], TEST_2027["workdays"])
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "calendar-saved")
    # The case counted Monday to Friday is recounted by the year: due after the festival,
    # no warning, and its record says why its due date moved.
    await page.goto(f"{stack['console'].url}/cases/{lodged}")
    assert await page.locator("#calendar-missing").count() == 0
    assert "2027-02-16 10:00" in await page.inner_text(".limits-list")
    audit = await page.inner_text("table.audit")
    assert "时限重新计算" in audit
    assert "调查核实 2027-02-09 10:00 → 2027-02-16 10:00 · 按 2027 年工作日历重新计算" in audit
    await screenshot(page, "case-calendar-recounted")
    await page.goto(f"{stack['console'].url}/calendar?year=2027")
    async with page.expect_navigation():  # to correct it: the saved year, written back
        await page.click("text=修改 2027 年的安排")
    assert await page.input_value("#cal-days") == (
        "2027-01-01 放假\n2027-01-31 上班\n2027-02-06 至 2027-02-12 放假\n2027-02-20 上班"
    )


async def test_the_calendar_in_english_and_refused_to_a_supervisor(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    page = await page_as(browser, stack, stack_env, "dev-admin-token", lang="en")
    await page.goto(f"{stack['console'].url}/calendar?edit=2027#h-form")
    assert await page.inner_text("h1") == "Working-day calendar"
    await page.fill("#cal-days", NOTICE)
    await submit(page)
    refused = await page.inner_text("#err-days")
    assert "2027-02-22 is a weekday" in refused
    assert f"From line 3, “{NOTICE.splitlines()[2]}”: 2027-02-22 is a weekday" in refused
    assert await page.input_value("#cal-days") == NOTICE
    await screenshot(page, "calendar-refused-en")
    await page.goto(f"{stack['console'].url}/calendar?year=2026")
    assert "Feb" in await page.inner_text("#cal-year-2026")
    await screenshot(page, "calendar-2026-en")

    supervisor = await page_as(browser, stack, stack_env, "dev-supervisor-token")
    await supervisor.goto(f"{stack['console'].url}/")
    assert "工作日历" not in await supervisor.inner_text("nav")
    response = await supervisor.goto(f"{stack['console'].url}/calendar")
    assert response is not None and response.status == 403
    assert await supervisor.locator("textarea").count() == 0
    await screenshot(supervisor, "calendar-supervisor-refused")


async def refused_unruled(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str], lang: str
) -> tuple[Page, str]:
    """A new 2027 with `UNRULED` pasted, in `lang`: the page, and what is said beside the text
    (kept as pasted)."""
    page = await page_as(browser, stack, stack_env, "dev-admin-token", lang=lang)
    await page.goto(f"{stack['console'].url}/calendar?edit=new#h-form")
    await page.fill("#cal-year", "2027")
    await page.fill("#cal-days", UNRULED)
    await page.fill("#cal-source", TEST_2027["source"])
    await submit(page)
    assert await page.input_value("#cal-days") == UNRULED
    return page, await page.inner_text("#err-days")


async def test_a_line_whose_dates_cannot_be_told_off_or_worked_is_refused_naming_it(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    before = await year_2027(stack)
    page, refused = await refused_unruled(browser, stack, stack_env, "zh")
    line = UNRULED.splitlines()[1]
    assert f"第 2 行「{line}」中的 2027-05-01 后面没有写明放假还是上班" in refused
    assert await year_2027(stack) == before  # nothing sent
    await screenshot(page, "calendar-unruled")
    english, refused = await refused_unruled(browser, stack, stack_env, "en")
    assert f"Line 2, “{line}”: 2027-05-01 is followed by neither 放假 (off) nor 上班" in refused
    await screenshot(english, "calendar-unruled-en")
