"""A hospital's own categories and the member praised named by name, on the real stack: the
praise and suggestions form offered the vocabulary's default categories whatever the
complaints service was set to file under, and the member praised had to be typed as a staff id.

The complaints service here files praise under the hospital's own ward_cleanliness and
nursing_care and suggestions under parking (COMPLAINTS_PRAISE_CATEGORIES,
COMPLAINTS_SUGGESTION_CATEGORIES):

- an agent sees those (a code the catalogue has by its words, one it lacks as the code) and
  not the defaults; she names the nurse praised by name: 钱晓, which two nurses' names hold, is
  refused beside the field naming both, a name matching nobody too, what she typed kept each
  time; 钱晓燕 is recorded as S-NURSE-71 (and under her department) in ward_cleanliness;
- in English, a suggestion is filed under parking.

Screenshots go to test-artifacts/screenshots/ (1366x768)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.async_api import Browser, Page

from tests.browser import page_as, screenshot, send
from tests.e2e.test_console_feedback import feedback_of, recorded_number
from tests.integration.services import RunningService, running_all

SERVICES = ("followup", "complaints", "notifications", "console")
OWN = {
    "COMPLAINTS_PRAISE_CATEGORIES": json.dumps(["ward_cleanliness", "nursing_care"]),
    "COMPLAINTS_SUGGESTION_CATEGORIES": json.dumps(["parking"]),
}
RUN = uuid.uuid4().hex[:6].upper()
# Two nurses of cardiology whose names share 钱晓 (saved on the roster by the test: a save of
# the same id again changes nothing).
NURSES = {"S-NURSE-71": "钱晓燕", "S-NURSE-72": "钱晓红"}


@pytest.fixture(scope="module")
def stack(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, SERVICES, {"complaints": OWN}) as services:
        for staff_id, name in NURSES.items():
            member = {"name": name, "department_code": "CARD", "role": "doctor", "capacity": 5}
            saved = httpx.put(f"{services['followup'].url}/v1/staff/{staff_id}", json=member,
                              headers={"Authorization": "Bearer dev-admin-token"}, timeout=10)  # fmt: skip
            assert saved.status_code == 200, saved.text
        yield services


async def offered(page: Page, group: str) -> dict[str, str]:
    """The category select's options of one kind's group: value -> label."""
    options = page.locator(f"#c-category optgroup[label='{group}'] option")
    values = await options.evaluate_all("os => os.map(o => [o.value, o.textContent.trim()])")
    return dict(values)


async def name_staff(page: Page, typed: str) -> None:
    """Type in the member praised without picking from the list (its suggestions closed)."""
    await page.fill("#c-staff_id", typed)
    await page.keyboard.press("Escape")


async def record(page: Page) -> str:
    await send(page, "button[value='record']")
    return await recorded_number(page)


async def test_the_hospitals_own_praise_category_and_the_doctor_named_by_name_are_recorded(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    page = await page_as(browser, stack, stack_env, "dev-agent-token")
    await page.goto(f"{stack['console'].url}/feedback/new")
    assert await offered(page, "表扬") == {
        "ward_cleanliness": "ward_cleanliness", "nursing_care": "护理服务", "other": "其他",
    }  # fmt: skip
    assert list(await offered(page, "建议")) == ["parking", "other"]
    await page.check("input[name='channel'][value='phone']")
    await page.select_option("#c-category", "ward_cleanliness")
    await page.fill("#c-patient_name", "周雨")
    await page.fill("#c-patient_phone", "13912340000")
    praise = f"病房每天都很干净，钱护士很细心。{RUN}"
    await page.fill("#c-text", praise)

    await name_staff(page, "钱晓")  # both nurses' names hold it
    await send(page, "button[value='record']")
    assert await page.get_attribute("#c-staff_id", "aria-invalid") == "true"
    several = await page.inner_text("#err-staff_id")
    assert several.startswith("“钱晓”对应多名员工：") and several.endswith("，请输入全名或工号")
    assert "钱晓燕 (S-NURSE-71)" in several and "钱晓红 (S-NURSE-72)" in several
    assert await page.input_value("#c-staff_id") == "钱晓"  # kept
    assert await page.input_value("#c-text") == praise
    assert await page.input_value("#c-category") == "ward_cleanliness"
    await screenshot(page, "feedback-staff-several")
    await name_staff(page, "张三丰")
    await send(page, "button[value='record']")
    assert (
        await page.inner_text("#err-staff_id")
        == "没有在职员工的姓名或工号是“张三丰”，请核对后重新输入"
    )
    assert await page.input_value("#c-staff_id") == "张三丰"
    await name_staff(page, "晓燕")  # part of one name: asked again, not taken for her
    await send(page, "button[value='record']")
    partial = await page.inner_text("#err-staff_id")
    assert partial.startswith("“晓燕”不是完整的姓名或工号") and "钱晓燕 (S-NURSE-71)" in partial

    await name_staff(page, "钱晓燕")
    number = await record(page)
    recorded = await feedback_of(stack, number)
    assert (recorded["category"], recorded["staff_id"]) == ("ward_cleanliness", "S-NURSE-71")
    assert recorded["department_code"] == "CARD"  # filed under the praised nurse's department
    row = await page.inner_text(f"tr:has(a[href='/feedback/{number}'])")
    assert "ward_cleanliness" in row and "S-NURSE-71" in row, row
    await screenshot(page, "feedback-own-category-list")


async def test_a_suggestion_is_filed_under_the_hospitals_own_category_in_english(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    page = await page_as(browser, stack, stack_env, "dev-agent-token", lang="en")
    await page.goto(f"{stack['console'].url}/feedback/new?kind=suggestion")
    assert list(await offered(page, "Suggestion")) == ["parking", "other"]
    await page.select_option("#c-category", "parking")
    await name_staff(page, "S-NURSE-7")  # refused in English, beside the field
    text = f"Please add parking spaces for disabled visitors. {RUN}"
    await page.fill("#c-text", text)
    await send(page, "button[value='record']")
    assert (await page.inner_text("#err-staff_id")).startswith(
        '"S-NURSE-7" matches several members of staff: '
    )
    await screenshot(page, "feedback-staff-several-en")
    await name_staff(page, "")
    number = await record(page)
    assert (await feedback_of(stack, number))["category"] == "parking"
    await screenshot(page, "feedback-own-category-list-en")
