"""The enquiries' screens (咨询) on the real stack: before them, staff had no way to take,
hand over or answer an enquiry but hand-made calls to the complaints service's API, though
first-contact responsibility and its time limits run there.

- an agent takes a phone enquiry (a question left out is refused beside its field, what was
  typed kept), sees it with its 24-hour countdown, is refused a hand-over to someone not on
  the roster (the reason kept), or to the director or herself (nobody could work it after:
  refused beside the colleague's field), and hands it to a colleague with the reason, who is told at
  once; from then on the page has no forms for her; the supervisor's screen shows an
  enquiry past its warning point, not this one; the desk's supervisor answers it, in time;
- in English, an on-site complex enquiry turned into a complaint: the enquiry shows the case.

The complaints service's own answers are checked beside the screens. Screenshots go to
test-artifacts/screenshots/ (1366x768)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser

from tests.browser import as_operations, has_no_horizontal_scroll, page_as, screenshot, send
from tests.integration.services import RunningService, running_all
from tests.kafka_tools import eventually

SERVICES = ("followup", "complaints", "notifications", "console")
RUN = uuid.uuid4().hex[:6].upper()
COLLEAGUE = f"S-ENQ-{RUN}"  # an agent of the desk put on the roster by the test
COLLEAGUE_NAME = f"孙悦{RUN}"  # whom the owner names, by name, when handing over
ADMIN = {"Authorization": "Bearer dev-admin-token"}


@pytest.fixture(scope="module")
def stack(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, SERVICES, {}) as services:
        yield services


async def name_of(stack: dict[str, RunningService], staff_id: str) -> str:
    """A member's name as the roster has it now (other tests on the stack may change it)."""
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(
            f"{stack['followup'].url}/v1/staff-directory", params={"id": staff_id}, headers=ADMIN
        )
    assert resp.status_code == 200, resp.text
    name: str = resp.json()["items"][0]["name"]
    return name


async def colleague_on_roster(stack: dict[str, RunningService], stack_env: dict[str, str]) -> None:
    """COLLEAGUE on follow-up's roster, and known to complaints (the roster's topic)."""
    member = {"name": COLLEAGUE_NAME, "department_code": "CS", "role": "agent", "capacity": 10,
              "phone": "13700000002"}  # fmt: skip
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.put(
            f"{stack['followup'].url}/v1/staff/{COLLEAGUE}", json=member, headers=ADMIN
        )
    assert resp.status_code == 200, resp.text

    async def known() -> bool:
        conn = await asyncpg.connect(stack_env["DATABASE_URL"])
        try:
            return bool(
                await conn.fetchval(
                    "SELECT active FROM complaints.staff WHERE staff_id = $1", COLLEAGUE
                )
            )
        finally:
            await conn.close()

    assert await eventually(known, timeout=60)


async def enquiry_of(stack: dict[str, RunningService], number: str) -> dict[str, Any]:
    """The enquiry as the complaints service has it (operations read every one)."""
    return await as_operations(stack["complaints"].url, f"/v1/enquiries/{number}")


async def notes_to(stack: dict[str, RunningService], staff_id: str, number: str) -> list[str]:
    """The texts notifications made for `staff_id` about enquiry `number` (operations read
    anyone's)."""
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(
            f"{stack['notifications'].url}/v1/messages", params={"staff_id": staff_id},
            headers=ADMIN,
        )  # fmt: skip
    resp.raise_for_status()
    return [m["body"] for m in resp.json()["items"] if number in (m.get("body") or "")]


async def take_asked_ago(
    stack: dict[str, RunningService], *, minutes: int, question: str = f"请问挂号处在几楼？{RUN}"
) -> str:
    """An on-site enquiry the desk agent took for a patient who asked `minutes` ago."""
    body = {"channel": "onsite", "question": question,
            "taken_at": (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()}  # fmt: skip
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.post(
            f"{stack['complaints'].url}/v1/enquiries", json=body,
            headers={"Authorization": "Bearer dev-agent-token"},
        )  # fmt: skip
    assert resp.status_code == 201, resp.text
    return str(resp.json()["enquiry_number"])


def number_in(url: str) -> str:
    return url.split("/enquiries/")[1].split("?")[0]


async def test_an_agent_takes_and_hands_over_an_enquiry_and_the_supervisor_answers_it(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    await colleague_on_roster(stack, stack_env)
    page = await page_as(browser, stack, stack_env, "dev-agent-token")
    await page.goto(f"{stack['console'].url}/")
    await send(page, "nav >> text=咨询")
    assert await page.inner_text("h1") == "咨询登记"
    await send(page, "a.button:has-text('登记咨询')")
    await page.fill("#c-patient_name", "周雨")
    await page.fill("#c-patient_phone", "13912340000")
    await send(page, "button[value='take']")  # no question
    assert await page.get_attribute("#c-question", "aria-invalid") == "true"
    assert await page.inner_text("#err-question") != ""
    assert await page.input_value("#c-patient_name") == "周雨"  # kept
    await screenshot(page, "enquiry-refused")
    question = f"请问心内科周六上午有专家门诊吗？{RUN}"
    await page.fill("#c-question", question)
    await send(page, "button[value='take']")
    number = number_in(page.url)
    assert "咨询已登记，由您负责。" in await page.inner_text(".flash")
    assert await page.inner_text("#enquiry-question") == question
    agent = f"{await name_of(stack, 'S-AGENT-01')} S-AGENT-01"  # by name, with the id
    assert (await page.inner_text("#enquiry-owner")).startswith(agent)
    left = await page.inner_text("section:has(#h-limits) .countdown")
    assert "答复" in left and "剩余23小时" in left
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "enquiry-taken")

    await page.fill("#handover-to", "S-NOBODY-9")
    await page.fill("#handover-reason", "专家门诊排班由门诊部答复")
    await send(page, "#handover-form button")
    assert "没有在职员工的姓名或工号是“S-NOBODY-9”" in await page.inner_text("#err-to")
    assert (await page.inner_text("#refusal")).count("S-NOBODY-9") == 1  # said once, not twice
    assert await page.input_value("#handover-reason") == "专家门诊排班由门诊部答复"
    assert (await enquiry_of(stack, number))["owner_id"] == "S-AGENT-01"  # nothing changed
    await screenshot(page, "enquiry-handover-refused")
    for to, said in (
        # the director is on no staff directory here (complaints' seed only): refused there;
        # the service's own refusal of a role that cannot answer is its stack test's
        ("S-DIR-01", "没有在职员工的姓名或工号是“S-DIR-01”"),
        ("S-AGENT-01", "已是该咨询的负责人"),
    ):
        await page.fill("#handover-to", to)  # nobody could work it after: refused beside `to`
        await page.fill("#handover-reason", "专家门诊排班由门诊部答复")
        await send(page, "#handover-form button")
        assert await page.get_attribute("#handover-to", "aria-invalid") == "true"
        assert said in await page.inner_text("#err-to")
    assert await page.input_value("#handover-reason") == "专家门诊排班由门诊部答复"
    assert (await enquiry_of(stack, number))["owner_id"] == "S-AGENT-01"
    await screenshot(page, "enquiry-handover-to-owner-refused")
    await page.fill("#handover-to", COLLEAGUE_NAME)  # by name: the agent reads no roster
    await send(page, "#handover-form button")
    assert "已转交" in await page.inner_text(".flash")
    assert (await page.inner_text("#enquiry-owner")).startswith(f"{COLLEAGUE_NAME} {COLLEAGUE}")
    assert await page.locator("#answer-form").count() == 0  # no longer hers to answer
    history = await page.inner_text("#enquiry-history")
    handed = f"{agent} → {COLLEAGUE_NAME} {COLLEAGUE} · 专家门诊排班由门诊部答复"
    assert handed in history, history
    assert (await enquiry_of(stack, number))["owner_id"] == COLLEAGUE
    told = await eventually(lambda: notes_to(stack, COLLEAGUE, number), timeout=30)
    assert f"咨询{number}" in told[0] and "S-AGENT-01转交给您" in told[0]

    await page.goto(f"{stack['console'].url}/enquiries")
    row = await page.inner_text(f"tr:has(a[href='/enquiries/{number}'])")
    assert "待答复" in row and f"{COLLEAGUE_NAME} {COLLEAGUE}" in row, row
    assert f"首问人 {agent.removesuffix(' S-AGENT-01')}" in row, row
    await screenshot(page, "enquiry-list")
    forged = base64.urlsafe_b64encode(json.dumps({"id": 2**63}).encode()).decode()
    for screen in ("enquiries", "feedback"):  # an edited cursor: refused, not "unavailable"
        answer = await page.goto(f"{stack['console'].url}/{screen}?cursor={forged}")
        assert answer is not None and answer.status == 422, screen
    await screenshot(page, "enquiry-list-edited-cursor")

    supervisor = await page_as(browser, stack, stack_env, "dev-supervisor-token")
    await supervisor.goto(f"{stack['console'].url}/supervisor")
    board = await supervisor.inner_text("#sup-enquiries")
    assert number not in board  # 23 hours left: not at risk
    late = await take_asked_ago(stack, minutes=26)  # on site: past 80% of its 30 minutes
    await supervisor.goto(f"{stack['console'].url}/supervisor")
    on_board = await supervisor.inner_text(f"#sup-enquiries tr:has(a[href='/enquiries/{late}'])")
    assert "S-AGENT-01" in on_board and "剩余3分" in on_board
    await screenshot(supervisor, "enquiry-supervisor-board")
    await supervisor.goto(f"{stack['console'].url}/enquiries/{number}")
    await supervisor.fill("#answer-text", "周六上午心内科有专家门诊，可在公众号预约。")
    await send(supervisor, "#answer-form button")
    assert "答复已保存" in await supervisor.inner_text(".flash")
    assert await supervisor.inner_text("#enquiry-status") == "已答复"
    assert "按时完成" in await supervisor.inner_text("#enquiry-history")
    answered = await enquiry_of(stack, number)
    assert (answered["status"], answered["answered_in_time"]) == ("answered", True)
    await screenshot(supervisor, "enquiry-answered")


async def test_an_on_site_enquiry_turned_into_a_complaint_in_english(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    page = await page_as(browser, stack, stack_env, "dev-agent-token", lang="en")
    await page.goto(f"{stack['console'].url}/enquiries/new")
    assert await page.inner_text("h1") == "Take an enquiry"
    await page.check("input[name='channel'][value='onsite']")
    await page.check("input[name='complex']")
    await page.fill("#c-question", f"Why was my CT report not ready after three days? {RUN}")
    await send(page, "button[value='take']")
    number = number_in(page.url)
    limit = await page.inner_text("section:has(#h-limits) .countdown")
    assert "On-site complex answer" in limit and "1h 59m left" in limit
    await screenshot(page, "enquiry-taken-en")
    await page.fill("#complaint-note", "The patient wants to complain about the delay.")
    await send(page, "#complaint-form button")
    enquiry = await enquiry_of(stack, number)
    assert enquiry["status"] == "converted" and enquiry["case_number"]
    await page.goto(f"{stack['console'].url}/enquiries/{number}")
    assert await page.inner_text("#enquiry-status") == "Became a complaint"
    assert await page.get_attribute(f"a[href='/cases/{enquiry['case_number']}']", "href")
    assert await page.locator("#complaint-form").count() == 0
    await screenshot(page, "enquiry-converted-en")


async def test_a_lookup_while_registration_does_not_answer_keeps_the_form_and_says_so(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    """Registration is not started in this module: the patient search has nobody to ask. The
    form comes back with what was typed and the reason beside the search (it was the whole
    page's 503, and the question typed was lost)."""
    page = await page_as(browser, stack, stack_env, "dev-agent-token")
    await page.goto(f"{stack['console'].url}/enquiries/new")
    await page.fill("#c-question", f"请问体检报告几天能取？{RUN}")
    await page.fill("#c-lookup", "13800000000")
    await send(page, "button[value='lookup']")
    assert "挂号服务未应答" in await page.inner_text("#err-lookup")
    assert await page.input_value("#c-question") == f"请问体检报告几天能取？{RUN}"
    assert await page.input_value("#c-lookup") == "13800000000"
    await screenshot(page, "enquiry-lookup-unavailable")


async def test_a_pasted_address_without_spaces_wraps_inside_its_panel(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    """A question that is one long pasted address made the page 11,000 pixels wide."""
    pasted = "https://example.org/" + "x" * 1500 + RUN
    number = await take_asked_ago(stack, minutes=1, question=pasted)
    page = await page_as(browser, stack, stack_env, "dev-agent-token")
    await page.goto(f"{stack['console'].url}/enquiries/{number}")
    assert await page.inner_text("#enquiry-question") == pasted
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "enquiry-long-question")
