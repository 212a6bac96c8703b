"""The director (院长) in the console, in a real browser (Debian's Chromium) on the real stack:
the complaint queue lists the cases escalated to them and those assigned to them, and the KPI
report is theirs to review (figures, not staff by staff).

Screenshots in Chinese and English go to test-artifacts/screenshots/ (1366x768)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.async_api import Browser, Page

from tests.browser import (
    chart_labels_cut,
    console_context,
    has_no_horizontal_scroll,
    screenshot,
    signed_in,
)
from tests.integration.services import RunningService, running_all

SERVICES = ("complaints", "notifications", "metrics", "console")


@pytest.fixture(scope="module")
def stack(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, SERVICES, {}) as running:
        yield running


async def director_page(browser: Browser, stack_env: dict[str, str], lang: str) -> Page:
    session = await signed_in(stack_env["DATABASE_URL"], "dev-director-token")
    context = await console_context(browser, stack_env["CONSOLE_URL"], session, lang=lang)
    return await context.new_page()


async def open_case(stack: dict[str, RunningService], text: str) -> str:
    body = {"channel": "phone", "description": text,
            "patient": {"patient_id": f"P-{uuid.uuid4().hex[:8]}", "name": "陈静",
                        "phone": "13912345678"},
            "department": {"code": "CS", "name": "客服中心"}}  # fmt: skip
    async with httpx.AsyncClient(base_url=stack["complaints"].url, timeout=10) as api:
        made = await api.post(
            "/v1/cases", json=body, headers={"Authorization": "Bearer dev-supervisor-token"}
        )
    assert made.status_code == 201, made.text
    return str(made.json()["case_number"])


async def test_the_director_filters_the_queue_to_their_escalations_and_reviews_the_kpis(
    browser: Browser, stack: dict[str, RunningService], stack_env
) -> None:  # type: ignore[no-untyped-def]
    """Audit finding 7: the director had no list of the cases waiting for them and no KPIs."""
    serious = await open_case(stack, "家属认为手术失误导致致残，属医疗事故")
    plain = await open_case(stack, "候诊排队等了三个小时，无人解释")
    base = stack_env["CONSOLE_URL"]
    for lang, label in (("zh", "升级到我（院长）的"), ("en", "Escalated to me (director)")):
        page = await director_page(browser, stack_env, lang)
        await page.goto(f"{base}/cases")
        await page.select_option("#f-whose", label=label)
        async with page.expect_navigation():
            await page.click("form.filters button[type=submit]")
        numbers = await page.locator("table.queue tbody td:first-child a").all_inner_texts()
        assert serious in numbers and plain not in numbers, numbers
        assert await has_no_horizontal_scroll(page)
        await screenshot(page, f"director-queue-escalated-{lang}")
        await page.select_option("#f-whose", "assigned")
        async with page.expect_navigation():
            await page.click("form.filters button[type=submit]")
        mine = await page.locator("table.queue tbody td:first-child a").all_inner_texts()
        assert serious not in mine and plain not in mine  # the director handles none of them

        response = await page.goto(f"{base}/operations?period=month")
        assert response is not None and response.status == 200
        assert await page.locator("#kpi-satisfaction_rate").count() == 1
        assert await chart_labels_cut(page) == []  # long English names were cut at the left
        await screenshot(page, f"director-operations-{lang}")
        await page.context.close()
