"""The department directory's screen (设置 → 科室) and the names it gives the console's pages,
on the real stack (registration, follow-up, console; Kafka, PostgreSQL): staff saw department
codes (`CARD`) where they expect names (心内科 / Cardiology), as no service kept names.

- A department is named from its first discharge (the name the event gives beside its code):
  the worklist shows it with nobody typing it in. Operations add a department from the screen:
  a code that is not one is refused beside the code, in Chinese, what was typed kept, nothing
  saved; corrected, it is saved. Renamed, the roster (/staff) and the worklist of an agent of
  that department show the new name, in Chinese and in English, where they showed the code.
- In English, a blank Chinese name is refused beside it in English; a rename from a form
  opened before a colleague's is refused naming the version now, what was typed kept, and
  saving it again then replaces the colleague's.

Screenshots go to test-artifacts/screenshots/ (1366x768)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from hospital_shared.auth import DEV_TOKENS, Principal, Role
from tests.browser import (
    console_context,
    has_no_horizontal_scroll,
    open_setting,
    page_as,
    screenshot,
    signed_in,
    submit,
)
from tests.e2e.test_console_screens import assigned_task, auth, discharge_for
from tests.integration.services import RunningService, running_all

RUN = uuid.uuid4().hex[:6].upper()
DEPT = f"D{RUN}"
ADDED = f"N{RUN}"  # the department operations add from the screen
AGENT = Principal(role=Role.AGENT, staff_id=f"AD-{RUN}", department=DEPT, name="回访员 郑雪")
TOKEN = f"t-console-dept-agent-{RUN}"
TOKENS = {**{t: p.model_dump(mode="json") for t, p in DEV_TOKENS.items()},
          TOKEN: AGENT.model_dump(mode="json")}  # fmt: skip
SERVICES = ("registration", "followup", "complaints", "console")  # complaints: the supervisor page
COMMON = {"AUTH_TOKENS": json.dumps(TOKENS)}
ENV = {name: dict(COMMON) for name in SERVICES} | {
    "followup": COMMON | {"FOLLOWUP_ASSIGN_INTERVAL_S": "0.3"}
}


@pytest.fixture(scope="module")
def stack(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, SERVICES, ENV) as running:
        yield running


@pytest.fixture(scope="module")
async def task(stack: dict[str, RunningService]) -> dict[str, Any]:
    """A discharge of DEPT (a code the directory does not know yet: named from it), its call
    assigned to the department's agent."""
    patient = {"patient_id": f"PX{RUN}", "name": "冯志远", "phone": "13712345678"}
    await discharge_for(stack, AGENT, capacity=20, patient=patient, department_name="测试科室")
    return await assigned_task(stack["followup"].url, TOKEN, patient["patient_id"])


async def directory_entry(stack: dict[str, RunningService], code: str) -> dict[str, Any] | None:
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(
            f"{stack['followup'].url}/v1/departments", headers=auth("dev-admin-token")
        )
    resp.raise_for_status()
    return next((d for d in resp.json()["items"] if d["code"] == code), None)


async def agent_page(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str], lang: str
) -> Page:
    session = await signed_in(stack_env["DATABASE_URL"], TOKEN, principal=AGENT)
    context = await console_context(browser, stack["console"].url, session, lang=lang)
    return await context.new_page()


async def row_of_task(page: Page, console: str, task_id: str) -> str:
    await page.goto(f"{console}/worklist")
    return await page.inner_text(f"tr:has(a[href='/calls/{task_id}'])")


async def test_operations_add_and_rename_a_department_and_the_pages_show_its_name(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str],
    task: dict[str, Any],
) -> None:  # fmt: skip
    console = stack["console"].url
    agent = await agent_page(browser, stack, stack_env, "zh")
    # named as the discharge named it (测试科室), not shown as its code
    assert "测试科室" in await row_of_task(agent, console, task["task_id"])

    page = await page_as(browser, stack, stack_env, "dev-admin-token")
    assert await open_setting(page, console, "科室") == "科室"
    # the directory as follow-up has it (seeded, or named by a discharge of another test
    # before the seed on this database: a seed never renames)
    card = await directory_entry(stack, "CARD")
    assert card is not None and card["name_zh"] in await page.inner_text("#dept-CARD")
    await page.click("#depts-add")
    await page.fill("#depts-code", f"{ADDED} X")
    await page.fill("#depts-name_zh", "测试内科")
    await submit(page, "#depts-save")
    assert "科室代码只能由英文字母、数字和 - _ 组成" in await page.inner_text("#err-code")
    assert await page.get_attribute("#depts-code", "aria-describedby") == "err-code"
    assert (await page.input_value("#depts-code"), await page.input_value("#depts-name_zh")) == (
        f"{ADDED} X", "测试内科",
    )  # fmt: skip
    assert await directory_entry(stack, f"{ADDED} X") is None
    await screenshot(page, "departments-refused")
    await page.fill("#depts-code", ADDED)
    await page.fill("#depts-name_en", "Test Medicine")
    await submit(page, "#depts-save")
    assert page.url.endswith(f"/departments?saved={ADDED}#dept-{ADDED}")
    assert "测试内科" in await page.inner_text("#depts-saved")
    added = await directory_entry(stack, ADDED)
    assert added is not None and (added["name_en"], added["version"]) == ("Test Medicine", 1)

    await page.goto(f"{console}/departments?edit={DEPT}#h-form")
    await page.fill("#depts-name_zh", "康复测试科")
    await page.fill("#depts-name_en", "Rehabilitation Test")
    await submit(page, "#depts-save")
    saved = await directory_entry(stack, DEPT)
    assert saved is not None and (saved["name_zh"], saved["version"]) == ("康复测试科", 2)
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "departments-saved")

    await page.goto(f"{console}/staff?department={DEPT}")
    assert "康复测试科" in await page.inner_text(f"tr:has-text('{AGENT.staff_id}')")
    await screenshot(page, "departments-roster")
    await page.goto(f"{console}/supervisor?department={DEPT}")
    assert "康复测试科" in await page.inner_text("h1")
    await screenshot(page, "departments-supervisor")
    assert "康复测试科" in await row_of_task(agent, console, task["task_id"])
    await screenshot(agent, "departments-worklist")

    english = await page_as(browser, stack, stack_env, "dev-admin-token", lang="en")
    await english.goto(f"{console}/staff?department={DEPT}")
    assert "Rehabilitation Test" in await english.inner_text(f"tr:has-text('{AGENT.staff_id}')")
    await screenshot(english, "departments-roster-en")
    agent_en = await agent_page(browser, stack, stack_env, "en")
    row = await row_of_task(agent_en, console, task["task_id"])
    assert "Rehabilitation Test" in row and DEPT not in row
    await screenshot(agent_en, "departments-worklist-en")


async def test_in_english_a_blank_name_and_a_stale_rename_are_refused_beside_the_form(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    console = stack["console"].url
    code = f"E{RUN}"
    english = await page_as(browser, stack, stack_env, "dev-admin-token", lang="en")
    await english.goto(f"{console}/departments?edit=new#h-form")
    await english.fill("#depts-code", code)
    await english.fill("#depts-name_en", "Pain Clinic")
    await submit(english, "#depts-save")
    assert await english.inner_text("#err-name_zh") != ""
    assert await english.input_value("#depts-name_en") == "Pain Clinic"
    assert await directory_entry(stack, code) is None
    await english.fill("#depts-name_zh", "疼痛科")
    await submit(english, "#depts-save")

    await english.goto(f"{console}/departments?edit={code}#h-form")  # version 1 in the form
    async with httpx.AsyncClient(timeout=10) as client:  # a colleague renames it meanwhile
        resp = await client.put(
            f"{stack['followup'].url}/v1/departments/{code}",
            json={"name_zh": "疼痛门诊", "expected_version": 1}, headers=auth("dev-admin-token"),
        )  # fmt: skip
        assert resp.status_code == 200, resp.text
    await english.fill("#depts-name_en", "Pain Medicine")
    await submit(english, "#depts-save")
    said = await english.inner_text("#depts-errors")
    assert "was changed by someone else" in said and "version 2" in said
    assert await english.input_value("#depts-name_en") == "Pain Medicine"
    entry = await directory_entry(stack, code)
    assert entry is not None and (entry["name_zh"], entry["name_en"]) == ("疼痛门诊", None)
    await screenshot(english, "departments-stale-en")
    await submit(english, "#depts-save")  # seen the colleague's: saving again replaces it
    entry = await directory_entry(stack, code)
    assert entry is not None and (entry["name_zh"], entry["name_en"]) == ("疼痛科", "Pain Medicine")
