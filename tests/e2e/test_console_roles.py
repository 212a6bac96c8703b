"""Who sees what in the console, in a real browser (Debian's Chromium) on the real stack: the
call screen tells the agent that a complaint they may not read is open (never "none", never
what it says).

Screenshots in Chinese and English go to test-artifacts/screenshots/ (1366x768)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from hospital_shared.auth import DEV_TOKENS, Principal, Role
from tests.browser import console_context, has_no_horizontal_scroll, screenshot, signed_in
from tests.e2e.test_console_screens import assigned_task, auth, discharge_for
from tests.integration.services import RunningService, running_all

RUN = uuid.uuid4().hex[:6].upper()
DEPT = f"R{RUN}"
AGENT = Principal(role=Role.AGENT, staff_id=f"AR-{RUN}", department=DEPT, name="回访员 吴敏")
TOKEN = f"t-roles-agent-{RUN}"
TOKENS = {
    **{token: p.model_dump(mode="json") for token, p in DEV_TOKENS.items()},
    TOKEN: AGENT.model_dump(mode="json"),
}
SERVICES = ("registration", "followup", "complaints", "notifications", "metrics", "console")
ENV = {name: {"AUTH_TOKENS": json.dumps(TOKENS)} for name in SERVICES} | {
    "followup": {"AUTH_TOKENS": json.dumps(TOKENS), "FOLLOWUP_ASSIGN_INTERVAL_S": "0.3"},
}


@pytest.fixture(scope="module")
def stack(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, SERVICES, ENV) as running:
        yield running


async def page_as(
    browser: Browser, stack: dict[str, RunningService], dsn: str, token: str, lang: str,
    principal: Principal | None = None,
) -> Page:  # fmt: skip
    session = await signed_in(dsn, token, principal=principal)
    context = await console_context(browser, stack["console"].url, session, lang=lang)
    return await context.new_page()


async def open_case(stack: dict[str, RunningService], patient_id: str, text: str) -> str:
    body = {"channel": "phone", "description": text,
            "patient": {"patient_id": patient_id, "name": "钱学文", "phone": "13712345678"},
            "department": {"code": DEPT, "name": "心血管内科"}}  # fmt: skip
    async with httpx.AsyncClient(base_url=stack["complaints"].url, timeout=10) as api:
        made = await api.post("/v1/cases", json=body, headers=auth("dev-supervisor-token"))
    assert made.status_code == 201, made.text
    return str(made.json()["case_number"])


async def test_the_call_screen_tells_the_agent_a_restricted_complaint_is_open(
    browser: Browser, stack: dict[str, RunningService], stack_env
) -> None:  # type: ignore[no-untyped-def]
    """Audit finding 1: the panel said "无" while a medical dispute was open with the
    director, and the nurse would ask "were you satisfied with the doctors?"."""
    patient = {"patient_id": f"PR{RUN}", "name": "钱学文", "phone": "13712345678"}
    await discharge_for(stack, AGENT, capacity=5, patient=patient, department_name="心血管内科")
    task: dict[str, Any] = await assigned_task(stack["followup"].url, TOKEN, patient["patient_id"])
    number = await open_case(stack, patient["patient_id"], "家属认为手术失误导致致残，属医疗事故")

    for lang, says in (("zh", "件受限的未结投诉"), ("en", "open complaint(s) you may not read")):
        page = await page_as(browser, stack, stack_env["DATABASE_URL"], TOKEN, lang, AGENT)
        await page.goto(f"{stack['console'].url}/calls/{task['task_id']}")
        panel = await page.inner_text("section[aria-labelledby=h-cases]")
        assert says in panel and number in panel, panel
        assert "医疗事故" not in await page.inner_text("main")  # existence, not contents
        assert ("无" if lang == "zh" else "Nothing recorded") not in panel.splitlines()
        assert await has_no_horizontal_scroll(page)
        await screenshot(page, f"call-restricted-complaint-{lang}")
        await page.context.close()
