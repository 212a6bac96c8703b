"""The console's complaint desk, supervisor and operations screens in a real browser (Debian's
Chromium under Playwright) on the real stack: the complaints, follow-up, notifications and
metrics services and the console as processes on Kafka and PostgreSQL.

- the desk takes a case through every step to closed, then the satisfaction check reopens it,
  and the audit trail shows each step; a step the service refuses shows its reason;
- a ward supervisor sees only their department's cases and gets a refusal page for another's;
- a breach notification's link opens the right case page;
- the supervisor and operations screens show their figures (screenshots of every screen)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from tests.browser import console_context, has_no_horizontal_scroll, screenshot, signed_in
from tests.integration.services import RunningService, running_all
from tests.kafka_tools import eventually

SERVICES = ("complaints", "followup", "notifications", "metrics", "console")
TOKEN = {
    "agent": "dev-agent-token",  # S-AGENT-01, CS
    "supervisor": "dev-supervisor-token",  # S-SUP-01, CS (the complaint desk)
    "ward": "dev-ward-supervisor-token",  # S-SUP-02, CARD
    "admin": "dev-admin-token",
}


@pytest.fixture(scope="module")
def stack(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    env = {"complaints": {"COMPLAINTS_TIMER_INTERVAL_S": "0.5"}}
    with running_all(stack_config, SERVICES, env) as services:
        yield services


@pytest.fixture(scope="module")
async def complaints(stack: dict[str, RunningService]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack["complaints"].url, timeout=10) as client:
        yield client


async def open_case(
    complaints: httpx.AsyncClient, *, dept: str = "CS", hours_ago: float = 0, text: str = ""
) -> str:
    """A complaint lodged at the desk `hours_ago` hours ago (its clocks run from then)."""
    body = {
        "channel": "phone",
        "description": text or "挂号处工作人员态度生硬，排队四十分钟无人解释",
        "category": "staff_attitude",
        "patient": {
            "patient_id": f"P-{uuid.uuid4().hex[:8]}",
            "name": "陈静",
            "phone": "13912345678",
        },
        "department": {"code": dept, "name": {"CS": "客服中心", "CARD": "心内科"}.get(dept, dept)},
        "submitted_at": (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat(),
    }
    r = await complaints.post("/v1/cases", json=body, headers=bearer("supervisor"))
    assert r.status_code == 201, r.text
    return str(r.json()["case_number"])


def bearer(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN[who]}"}


async def page_as(browser: Browser, stack_env: dict[str, str], who: str, lang: str = "zh") -> Page:
    session = await signed_in(stack_env["DATABASE_URL"], TOKEN[who])
    context = await console_context(browser, stack_env["CONSOLE_URL"], session, lang=lang)
    return await context.new_page()


async def status_shown(page: Page) -> str:
    return (await page.inner_text("#case-status")).strip()


async def step(page: Page, label: str, *, note: str | None = None) -> None:
    """Press the step button `label` on the case page (with a note), wait for the answer."""
    if note is not None:
        await page.fill("#step-note", note)
    async with page.expect_navigation():
        await page.click(f"#step-form button:text-is('{label}')")


async def test_the_desk_moves_a_case_through_every_step_to_closed_and_reopened(
    stack: dict[str, RunningService],
    complaints: httpx.AsyncClient,
    stack_env,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    number = await open_case(complaints, hours_ago=2)
    base = stack_env["CONSOLE_URL"]
    sup = await page_as(browser, stack_env, "supervisor")
    await sup.goto(f"{base}/cases")
    row = sup.locator("table.queue tr", has=sup.locator(f"a:text-is('{number}')"))
    assert "剩余" in await row.locator("time.countdown").first.inner_text()
    assert await has_no_horizontal_scroll(sup)
    assert await sup.locator("table.queue th", has_text="投诉时间").count() == 1
    await screenshot(sup, "desk-queue")
    # The supervisor takes the case, then hands it to the agent, through the case page (the
    # rules may have given it to the agent already: handing it to its own handler changes
    # nothing and records nothing).
    await sup.goto(f"{base}/cases/{number}")
    for member, shown in (
        ("S-SUP-01", "客服主管 张伟 S-SUP-01"),
        ("S-AGENT-01", "客服 王芳 S-AGENT-01"),
    ):
        await sup.select_option("#assignee", member)
        async with sup.expect_navigation():
            await sup.click("form:has(#assignee) button[type=submit]")
        assert (await sup.inner_text("#case-assignee")).strip() == shown  # by name

    agent = await page_as(browser, stack_env, "agent")
    await agent.goto(f"{base}/cases/{number}")
    await step(agent, "首次回应患者", note="已致电患者致歉，说明将调查")
    assert await status_shown(agent) == "已回应"
    await step(agent, "开始调查")
    await agent.fill("#note-text", "调取挂号窗口监控，核实等候时间")
    async with agent.expect_navigation():
        await agent.click("text=保存记录")
    # Proposing without the resolution: the service refuses, the page says why.
    await step(agent, "提交处理方案")
    assert "执行「提交处理方案」需要填写处理方案" in await agent.inner_text("#refusal")
    assert await status_shown(agent) == "调查中"
    await agent.select_option("#step-kind", "apology")
    await agent.fill("#step-resolution", "当面道歉，并对窗口人员进行服务培训")
    await step(agent, "提交处理方案")
    assert await status_shown(agent) == "方案待批"
    # A handler may not approve, send back or withdraw (the table marks them for a
    # supervisor): the page offers no such button, it says the supervisor is next.
    assert await agent.locator("#step-form button").count() == 0
    assert "下一步须由主管" in await agent.inner_text("#waiting-supervisor")
    await screenshot(agent, "desk-case-waiting-supervisor")
    agent_en = await page_as(browser, stack_env, "agent", lang="en")
    await agent_en.goto(f"{base}/cases/{number}")
    assert "The next step is a supervisor's" in await agent_en.inner_text("#waiting-supervisor")
    await screenshot(agent_en, "desk-case-waiting-supervisor-en")

    await sup.goto(f"{base}/cases/{number}")
    await step(sup, "批准方案")
    assert await status_shown(sup) == "方案已批"
    await agent.goto(f"{base}/cases/{number}")
    await step(agent, "方案已实施")
    await step(agent, "已告知患者", note="电话告知处理结果，患者接受")
    await sup.goto(f"{base}/cases/{number}")
    await step(sup, "总结批示", note="窗口服务规范已重新培训，本案处理得当")
    await step(sup, "结案")
    assert await status_shown(sup) == "已结案"
    # The satisfaction check: the patient is not satisfied, so the case is handled again.
    await sup.check("input[name=rating][value=dissatisfied]")
    async with sup.expect_navigation():
        await sup.click("text=记录满意度")
    assert await status_shown(sup) == "重新处理"
    await screenshot(sup, "desk-case")

    audit = await sup.locator("table.audit tbody tr").all_inner_texts()
    changes = [line.split("\t")[3].strip() for line in audit]
    assert [c for c in changes if c] == [
        "→ 已受理", "已受理 → 已回应", "已回应 → 调查中", "调查中 → 方案待批", "方案待批 → 方案已批",
        "方案已批 → 方案已实施", "方案已实施 → 已告知患者", "已告知患者 → 已总结批示",
        "已总结批示 → 已结案", "已结案 → 重新处理",
    ]  # fmt: skip
    text = "\n".join(audit)
    for seen in ("调取挂号窗口监控", "S-AGENT-01", "不满意", "分派", "满意度回访时患者表示不满意"):
        assert seen in text
    assert (
        "dissatisfied at the satisfaction check" not in text
    )  # the service's own note, in Chinese
    r = await complaints.get(f"/v1/cases/{number}", headers=bearer("supervisor"))
    assert (r.json()["status"], r.json()["cycle"]) == ("reopened", 2)  # a new cycle, new clocks


async def case_as_it_is(complaints: httpx.AsyncClient, number: str) -> dict[str, Any]:
    r = await complaints.get(f"/v1/cases/{number}", headers=bearer("supervisor"))
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


async def investigating(complaints: httpx.AsyncClient) -> str:
    """A desk case handed to the agent and taken to investigation through the API."""
    number = await open_case(complaints, text="门诊收费处多收检查费，窗口拒绝退还")
    steps = [
        ("supervisor", "assignment", {"assignee_id": "S-AGENT-01"}),
        ("agent", "transitions", {"to": "acknowledged", "note": "已致电患者，说明将核查"}),
        ("agent", "transitions", {"to": "investigating"}),
    ]
    for who, route, body in steps:
        r = await complaints.post(f"/v1/cases/{number}/{route}", json=body, headers=bearer(who))
        assert r.status_code == 200, r.text
    return number


async def test_a_step_from_a_page_the_case_has_moved_on_from_is_refused_keeping_what_was_typed(
    stack: dict[str, RunningService],
    complaints: httpx.AsyncClient,
    stack_env,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    """The agent writes a resolution on the case page while the supervisor, elsewhere, adds a
    note: the case's version moves. The proposal sent from the page as it was is refused (409)
    with the case's status and version now; the case is not changed, what was typed is still
    in the form, and pressing the step again (the page now carries the new version) takes it."""
    number = await investigating(complaints)
    base = stack_env["CONSOLE_URL"]
    agent = await page_as(browser, stack_env, "agent")
    await agent.goto(f"{base}/cases/{number}")
    shown = int(await agent.input_value("#step-form input[name=expected_version]"))
    await agent.fill("#step-note", "与收费处核对，确认多收 120 元")
    await agent.select_option("#step-kind", "refund")
    await agent.fill("#step-resolution", "退还多收的检查费 120 元，并向患者道歉")
    meanwhile = {"note": "患者再次来电，要求三日内答复", "expected_version": shown}
    r = await complaints.post(
        f"/v1/cases/{number}/notes", json=meanwhile, headers=bearer("supervisor")
    )
    assert r.status_code == 200, r.text
    moved = (await case_as_it_is(complaints, number))["version"]
    assert moved > shown

    async with agent.expect_navigation() as sent:
        await agent.click("#step-form button:text-is('提交处理方案')")
    assert (await sent.value).status == 409  # type: ignore[union-attr]
    refusal = await agent.inner_text("#refusal")
    assert f"案件 {number} 在您打开页面后已被他人修改（现为「调查中」，第 {moved} 版）" in refusal
    assert "本页已是最新内容，请核对后再操作" in refusal
    assert await status_shown(agent) == "调查中"
    assert "患者再次来电，要求三日内答复" in await agent.inner_text("table.audit")  # read first
    assert await agent.input_value("#step-note") == "与收费处核对，确认多收 120 元"
    assert await agent.input_value("#step-kind") == "refund"
    assert await agent.input_value("#step-resolution") == "退还多收的检查费 120 元，并向患者道歉"
    assert await has_no_horizontal_scroll(agent)
    await screenshot(agent, "desk-case-conflict")
    case = await case_as_it_is(complaints, number)
    assert (case["status"], case["version"], case["resolution"]) == ("investigating", moved, None)

    # Read, then press again: the page now carries the case's new version.
    await step(agent, "提交处理方案")
    assert await status_shown(agent) == "方案待批"
    case = await case_as_it_is(complaints, number)
    assert (case["status"], case["version"]) == ("resolution_proposed", moved + 1)


async def test_a_ward_supervisor_sees_only_their_department_and_is_refused_another(
    stack: dict[str, RunningService],
    complaints: httpx.AsyncClient,
    stack_env,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    cardiology = await open_case(complaints, dept="CARD", text="心内科病房夜间噪音大，护士未处理")
    desk = await open_case(complaints, dept="CS")
    base = stack_env["CONSOLE_URL"]
    ward = await page_as(browser, stack_env, "ward")
    await ward.goto(f"{base}/cases?open=all")
    listed = await ward.locator("table.queue td:first-child a").all_inner_texts()
    assert cardiology in listed and desk not in listed
    await ward.goto(f"{base}/cases/{cardiology}")
    assert cardiology in await ward.inner_text("h1")
    response = await ward.goto(f"{base}/cases/{desk}")
    assert response is not None and response.status == 403
    notice = await ward.inner_text("[role=alert]")
    assert "无权访问" in notice and f"案件 {desk} 不在您的处理范围内" in notice
    await screenshot(ward, "desk-refused-other-department")
    await ward.get_by_role("link", name="English").click()  # the service's own words
    await ward.wait_for_url(f"**/cases/{desk}")
    assert f"case {desk} is not yours" in await ward.inner_text("[role=alert]")


async def test_a_breach_notifications_link_opens_the_right_case(
    stack: dict[str, RunningService],
    complaints: httpx.AsyncClient,
    stack_env,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    number = await open_case(complaints, hours_ago=30)  # 24 h first response: breached
    base = stack_env["CONSOLE_URL"]

    async def breach_notice() -> dict[str, Any] | None:
        async with httpx.AsyncClient(base_url=stack["notifications"].url, timeout=10) as api:
            r = await api.get("/v1/inbox", headers=bearer("supervisor"))
        assert r.status_code == 200, r.text
        return next(
            (m for m in r.json()["items"] if m["template"] == "staff_case_time_limit_breach"
             and number in (m.get("body") or "")),
            None,
        )  # fmt: skip

    notice = await eventually(breach_notice, timeout=90)
    link = notice["body"].split()[-1]  # the note ends with its console page
    assert link == f"{base}/cases/{number}"
    sup = await page_as(browser, stack_env, "supervisor")
    await sup.goto(link)
    assert number in await sup.inner_text("h1")
    breached = sup.locator("time.countdown.state-breached")
    assert "超时" in await breached.first.inner_text()
    await screenshot(sup, "desk-case-from-breach-link")


async def test_the_supervisor_screen_shows_breaches_and_reassigns(
    stack: dict[str, RunningService],
    complaints: httpx.AsyncClient,
    stack_env,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    breached = await open_case(complaints, hours_ago=26)
    warned = await open_case(complaints, hours_ago=21)
    base = stack_env["CONSOLE_URL"]
    sup = await page_as(browser, stack_env, "supervisor")
    await sup.goto(f"{base}/supervisor")
    assert breached in await sup.inner_text("section:has(#h-breach)")
    assert warned in await sup.inner_text("section:has(#h-warn)")
    assert "S-AGENT-01" in await sup.inner_text("section:has(#h-team)")
    row = sup.locator("section:has(#h-breach) tr", has=sup.locator(f"a:text-is('{breached}')"))
    assert "王芳 S-AGENT-01" in await row.locator("td").nth(3).inner_text()  # the handler by name
    assert await has_no_horizontal_scroll(sup)
    await screenshot(sup, "supervisor")
    form = sup.locator(f"form:has(input[value='{breached}'])").first
    await form.locator("select").select_option("S-SUP-01")
    async with sup.expect_navigation():
        await form.locator("button").click()
    assert "已改派" in await sup.inner_text("[role=status]")
    r = await complaints.get(f"/v1/cases/{breached}", headers=bearer("supervisor"))
    assert r.json()["assignee_id"] == "S-SUP-01"
    # Operations see the board too, but only a supervisor reassigns a case: no form that
    # could only be refused (it was offered, and answered "role 'admin' may not do this").
    ops = await page_as(browser, stack_env, "admin")
    await ops.goto(f"{base}/supervisor?department=CS")
    assert warned in await ops.inner_text("section:has(#h-warn)")
    assert await ops.locator("section:has(#h-warn) form, section:has(#h-breach) form").count() == 0
    # The same queue in English: labels and the countdown's words switch too.
    english = await page_as(browser, stack_env, "supervisor", lang="en")
    await english.goto(f"{base}/cases?time_limit=breached")
    assert await english.title() == "Complaint cases · Patient service console"
    row = english.locator("table.queue tr", has=english.locator(f"a:text-is('{breached}')"))
    assert "overdue" in await row.locator("time.countdown.state-breached").inner_text()
    await screenshot(english, "desk-queue-en")


async def test_operations_sees_the_kpi_report_with_charts_and_the_monthly_report(
    stack: dict[str, RunningService],
    stack_env,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    base = stack_env["CONSOLE_URL"]
    ops = await page_as(browser, stack_env, "admin")
    for period in ("day", "week", "month", "quarter"):
        await ops.goto(f"{base}/operations?period={period}")
        assert await ops.locator("svg.chart").count() >= 2
        assert await ops.locator("#kpi-satisfaction_rate").count() == 1
    assert await has_no_horizontal_scroll(ops)
    for row in await ops.locator("table.kpis tbody tr").all():
        cells = await row.locator("td").all_inner_texts()  # name, value, target, count, met
        if not cells[2].strip() and cells[3].strip() != "0 / 0":
            assert cells[4].strip() == "无目标", cells  # figures without a target: not 无数据
    await screenshot(ops, "operations")
    async with ops.expect_download() as download:
        await ops.click("text=月报CSV")
    path = await (await download.value).path()
    header = path.read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.startswith("period,start,end,department,kpi")
    await ops.goto(f"{base}/operations/report")
    assert "全院" in await ops.inner_text("main")
    await screenshot(ops, "operations-monthly-report")
    agent = await page_as(browser, stack_env, "agent")
    response = await agent.goto(f"{base}/operations")
    assert response is not None and response.status == 403
