"""The first required browser test end to end (issue 19): an agent signs in through the
stack's real Keycloak login page in Debian's Chromium, opens the worklist, opens a call
assigned to them and records its outcome through the form; the task's state (follow-up
API), the follow-up event on Kafka and the metrics counter change. Nothing here is a
development token on the person's side: the console holds the Keycloak-issued access token
and passes it to the services, so the whole chain runs on that JWT.

The call is assigned deterministically by putting the realm's dev agent (staff id and
department from tools/devstack/keycloak/hospital-realm.json) on the follow-up roster with
room for calls, then sending a discharge of their department: they are the department's
only rostered agent on this freshly wiped stack, so the assigner can only give it to them.
(Reassigning through the supervisor API would also work but adds a second actor and a race
with the assigner's own choice.) The roster write and the discharge are the admin's and the
hospital system's, with their development tokens, as in test_console_screens.py."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.async_api import Browser

from hospital_shared.auth import Principal, Role
from tests.browser import VIEWPORT, has_no_horizontal_scroll, keycloak_login, screenshot
from tests.e2e.test_console_screens import (
    SERVICES,
    assigned_task,
    auth,
    completed_counter,
    completed_events,
    counted,
    discharge_for,
)
from tests.integration.keycloak_tokens import password_token
from tests.integration.services import RunningService, running_all
from tests.kafka_tools import eventually

pytestmark = pytest.mark.stack

# The realm's dev agent (hospital-realm.json, user `agent`).
AGENT = Principal(role=Role.AGENT, staff_id="S-AGENT-01", department="CS", name="客服 王芳")
PATIENT = f"钱{uuid.uuid4().hex[:4].upper()}"  # this run's patient, found by name on the screen


@pytest.fixture(scope="module")
def stack(stack_config, keycloak) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    env = {"followup": {"FOLLOWUP_ASSIGN_INTERVAL_S": "0.3"}}  # no AUTH_TOKENS: JWTs + dev
    with running_all(stack_config, SERVICES, env) as running:
        yield running


async def test_an_agent_signed_in_at_keycloak_records_an_outcome_from_the_worklist(
    browser: Browser, stack: dict[str, RunningService], keycloak: dict[str, str]
) -> None:
    console, metrics = stack["console"].url, stack["metrics"].url
    patient = {"patient_id": f"PK{uuid.uuid4().hex[:8]}", "name": PATIENT, "phone": "13700000002"}
    await discharge_for(stack, AGENT, capacity=50, patient=patient, department_name="客服中心")
    jwt = await _agent_jwt(keycloak)
    task = await assigned_task(stack["followup"].url, jwt, patient["patient_id"])
    before = await completed_counter(metrics, AGENT.department)

    context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{console}/worklist")
    await keycloak_login(page, keycloak)
    await page.wait_for_url(f"{console}/worklist")
    assert AGENT.name in await page.inner_text("header")
    row = page.locator("tr", has_text=PATIENT)
    await row.wait_for()
    await screenshot(page, "keycloak-worklist")
    await row.get_by_role("link", name=re.compile("去回访")).click()
    await page.wait_for_url(f"**/calls/{task['task_id']}")
    await page.get_by_label("已联系上").check()
    await page.get_by_label("满意", exact=True).check()
    await page.get_by_label("评分（1–5）").select_option("4")
    await page.get_by_role("button", name="保存回访结果").click()
    await page.wait_for_url("**/worklist?saved=*")
    assert "已完成" in await page.inner_text("[role=status]")
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "keycloak-worklist-saved")
    await context.close()

    async with httpx.AsyncClient(base_url=stack["followup"].url) as api:
        saved = (await api.get(f"/v1/tasks/{task['task_id']}", headers=auth(jwt))).json()
    assert (saved["status"], saved["outcome"]["score"]) == ("completed", 4)
    kafka = keycloak["KAFKA_BOOTSTRAP_SERVERS"]
    [event] = await eventually(lambda: completed_events(kafka, task["task_id"]), timeout=30)
    assert event["data"]["completed_by"] == AGENT.staff_id  # the JWT's staff_id claim
    after = await eventually(lambda: counted(metrics, AGENT.department, before), timeout=30)
    assert after == before + 1


async def _agent_jwt(env: dict[str, str]) -> str:
    """The dev agent's own Keycloak access token, for reading their worklist from the API."""
    return await asyncio.to_thread(password_token, env, "agent")
