"""The console's screens in a real browser (Debian's Chromium) against the real stack: the
five services and the console as processes, Kafka, PostgreSQL. An agent works a discharge
call from the worklist to a saved outcome, and the task's state, the follow-up event on
Kafka and the metrics counter change; patient search finds an inbound caller by the number
as they say it (and one only the complaints service knows, by id); the desk opens a complaint
from its form (field errors beside the fields, nothing typed lost); the inbox shows the unread
count and opens the task a note is about.

Screenshots of each screen go to test-artifacts/screenshots/ (1366x768)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, Page

from hospital_shared import topics
from hospital_shared.auth import DEV_TOKENS, Principal, Role
from tests.browser import console_context, has_no_horizontal_scroll, screenshot, signed_in
from tests.factories import discharge, envelope, to_bytes
from tests.integration.services import RunningService, running_all
from tests.kafka_tools import eventually, json_values, publish, read_all

RUN = uuid.uuid4().hex[:6].upper()
DEPT = f"W{RUN}"
AGENT = Principal(role=Role.AGENT, staff_id=f"AG-{RUN}", department=DEPT, name="回访员 刘洋")
TOKEN = f"t-console-agent-{RUN}"
# A second department whose agent has no room: its calls wait, unassigned, to be taken.
TAKE_DEPT = f"X{RUN}"
TAKER = Principal(role=Role.AGENT, staff_id=f"AX-{RUN}", department=TAKE_DEPT, name="回访员 周敏")
TAKER_TOKEN = f"t-console-taker-{RUN}"
TOKENS = {
    **{token: p.model_dump(mode="json") for token, p in DEV_TOKENS.items()},
    TOKEN: AGENT.model_dump(mode="json"),
    TAKER_TOKEN: TAKER.model_dump(mode="json"),
}
SERVICES = ("registration", "followup", "complaints", "notifications", "metrics", "console")
COMMON = {"AUTH_TOKENS": json.dumps(TOKENS)}
ENV = {name: dict(COMMON) for name in SERVICES} | {
    "followup": COMMON
    | {
        "FOLLOWUP_ASSIGN_INTERVAL_S": "0.3",
        "FOLLOWUP_DEPARTMENT_POLICIES": json.dumps({TAKE_DEPT: {"fallback_department": TAKE_DEPT}}),
    },
}
PHONE = f"137{uuid.uuid4().int % 10**8:08d}"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def stack(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, SERVICES, ENV) as running:
        yield running


async def discharge_for(
    stack: dict[str, RunningService], staff: Principal, *, capacity: int, patient: dict[str, str],
    department_name: str,
) -> None:  # fmt: skip
    """`staff` on the follow-up roster with `capacity`, then a discharge of their department
    with `patient`, sent by the hospital system through the registration service."""
    async with httpx.AsyncClient(timeout=10) as client:
        member = {"name": staff.name, "department_code": staff.department, "role": "agent",
                  "capacity": capacity, "phone": "13700000001"}  # fmt: skip
        resp = await client.put(
            f"{stack['followup'].url}/v1/staff/{staff.staff_id}", json=member,
            headers=auth("dev-admin-token"),
        )  # fmt: skip
        assert resp.status_code == 200, resp.text
        n = uuid.uuid4().int % 10**6
        department = {"code": staff.department, "name": department_name}
        event = discharge(n, patient=patient, department=department)
        resp = await client.post(
            f"{stack['registration'].url}/v1/discharges", json=event["data"],
            headers=auth("dev-integration-token"),
        )  # fmt: skip
        assert resp.status_code == 202, resp.text


@pytest.fixture(scope="module")
async def task(stack: dict[str, RunningService]) -> AsyncIterator[dict[str, Any]]:
    """A discharge of DEPT sent by the hospital system, its call assigned to the agent."""
    patient = {"patient_id": f"PW{RUN}", "name": "钱学文", "phone": PHONE}
    await discharge_for(stack, AGENT, capacity=20, patient=patient, department_name="心血管内科")
    yield await assigned_task(stack["followup"].url, TOKEN, patient["patient_id"])


async def assigned_task(followup_url: str, token: str, patient_id: str) -> dict[str, Any]:
    """The call with `patient_id` on the worklist of the person behind `token`, once it is
    there. Only that patient's call: another test's call may still be assigned to the same
    person (fresh-clone CI of 12ea294 found S-AGENT-01 holding one)."""
    async with httpx.AsyncClient(timeout=10) as client:

        async def assigned() -> dict[str, Any] | None:
            lists = (await client.get(f"{followup_url}/v1/worklist", headers=auth(token))).json()
            found = [t for g in ("overdue", "due_today", "upcoming") for t in lists[g]]
            ours = [t for t in found if t["patient"]["patient_id"] == patient_id]
            return ours[0] if ours else None

        found: dict[str, Any] = await eventually(assigned, timeout=60, interval=0.5)
        return found


@pytest.fixture
async def page(
    browser: Browser, stack: dict[str, RunningService], stack_env
) -> AsyncIterator[Page]:  # type: ignore[no-untyped-def]
    session = await signed_in(stack_env["DATABASE_URL"], TOKEN, principal=AGENT)
    context = await console_context(browser, stack["console"].url, session)
    yield await context.new_page()
    await context.close()


async def completed_counter(metrics_url: str, department: str = DEPT) -> float:
    text = (await httpx.AsyncClient().get(f"{metrics_url}/metrics")).text
    pattern = (
        rf"^hospital_followup_tasks_completed_total\{{[^}}]*"
        rf'department="{department}"[^}}]*\}} (\S+)$'
    )
    return sum(float(m.group(1)) for m in re.finditer(pattern, text, re.MULTILINE))


async def completed_events(kafka: str, task_id: str) -> list[dict[str, Any]]:
    """The `followup.task_completed` events of task `task_id` on Kafka (`kafka`: bootstrap)."""
    found = json_values(await read_all(kafka, topics.FOLLOWUP_TASKS))
    return [e for e in found
            if e["type"] == "followup.task_completed" and e["data"]["task_id"] == task_id]  # fmt: skip


async def test_an_agent_records_an_outcome_from_the_worklist(
    page: Page, stack: dict[str, RunningService], task: dict[str, Any], stack_env
) -> None:  # type: ignore[no-untyped-def]
    console, metrics = stack["console"].url, stack["metrics"].url
    assert await completed_counter(metrics) == 0
    await page.goto(f"{console}/worklist")
    assert await page.title() == "我的回访任务 · 患者服务工作台"
    row = page.locator("tr", has_text="钱学文")
    await row.wait_for()
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "worklist")
    await row.get_by_role("link", name=re.compile("去回访")).click()
    await page.wait_for_url(f"**/calls/{task['task_id']}")
    assert "心血管内科" in await page.inner_text("main")
    assert "您好，我是市第一人民医院心血管内科的回访员" in await page.inner_text(".script")
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "call")

    await page.get_by_role("button", name="保存回访结果").click()  # nothing chosen yet
    assert "必填" in await page.inner_text("[role=alert]")
    await screenshot(page, "call-error")

    await page.get_by_label("已联系上").check()
    await page.get_by_label("满意", exact=True).check()
    await page.get_by_label("评分（1–5）").select_option("5")
    await page.get_by_label("患者意见").fill("护士很耐心，出院指导很清楚")
    await page.get_by_role("button", name="保存回访结果").click()
    await page.wait_for_url("**/worklist?saved=*")
    assert "已完成" in await page.inner_text("[role=status]")
    await screenshot(page, "worklist-saved")

    async with httpx.AsyncClient(base_url=stack["followup"].url) as api:
        saved = (await api.get(f"/v1/tasks/{task['task_id']}", headers=auth(TOKEN))).json()
    assert (saved["status"], saved["outcome"]["satisfaction"], saved["outcome"]["score"]) == (
        "completed", "satisfied", 5,
    )  # fmt: skip

    kafka = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    [event] = await eventually(lambda: completed_events(kafka, task["task_id"]), timeout=30)
    assert event["data"]["completed_by"] == AGENT.staff_id
    assert await eventually(lambda: counted(metrics), timeout=30) == 1


async def counted(metrics_url: str, department: str = DEPT, above: float = 0) -> float | None:
    """The department's completed-call counter once it is above `above` (None before)."""
    value = await completed_counter(metrics_url, department)
    return value if value > above else None


async def test_patient_search_finds_an_inbound_caller_by_phone(
    page: Page, stack: dict[str, RunningService], task: dict[str, Any]
) -> None:
    await page.goto(f"{stack['console'].url}/patients")  # the default: a phone or a name
    await page.get_by_label("查询内容").fill(f"+86 {PHONE[:3]}-{PHONE[3:7]}-{PHONE[7:]}")
    await page.get_by_role("button", name="查询").click()
    result = page.locator("tbody tr", has_text="钱学文")
    await result.wait_for()
    assert f"{PHONE[:3]}****{PHONE[7:]}" in await result.inner_text()  # masked as the API masks
    assert "按电话号码" in await page.inner_text("#h-found")
    await screenshot(page, "patient-search")
    await result.get_by_role("link").click()
    await page.wait_for_url(f"**/patients/{task['patient']['patient_id']}")
    main = await page.inner_text("main")
    assert "心血管内科" in main and task["task_id"] in main
    visits = await page.inner_text("section[aria-labelledby=h-visits]")  # the page of visits
    assert "心血管内科" in visits and "住院" in visits, visits
    assert "您的角色无权查看此部分" in main  # an agent may not read a patient's SMS history
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "patient")


async def test_a_patient_only_the_complaints_service_knows_is_found_by_id(
    browser: Browser, stack: dict[str, RunningService], stack_env
) -> None:  # type: ignore[no-untyped-def]
    patient_id = f"PC{RUN}"
    case = {"channel": "online", "description": "网上投诉：挂号系统多次扣费",
            "patient": {"patient_id": patient_id, "name": "孔令仪", "phone": "13655556666"},
            "department": {"code": "CS", "name": "客服中心"}, "category": "billing"}  # fmt: skip
    async with httpx.AsyncClient(base_url=stack["complaints"].url, timeout=10) as api:
        made = await api.post("/v1/cases", json=case, headers=auth("dev-supervisor-token"))
    assert made.status_code == 201, made.text
    session = await signed_in(stack_env["DATABASE_URL"], "dev-supervisor-token")  # the desk's
    context = await console_context(browser, stack["console"].url, session)
    page = await context.new_page()
    await page.goto(f"{stack['console'].url}/patients?by=patient_id&q={patient_id}")
    row = page.locator("tbody tr", has_text=patient_id)
    assert "孔令仪" in await row.inner_text() and "仅投诉记录" in await row.inner_text()
    await context.close()


async def test_the_desk_opens_a_relatives_complaint_by_name_and_phone_without_a_patient_id(
    page: Page, stack: dict[str, RunningService]
) -> None:
    console = stack["console"].url
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.goto(f"{console}/cases/new")
    await page.get_by_label("姓名", exact=True).fill("钱小文")
    await page.get_by_label("联系电话").fill("13700002222")
    await page.get_by_label("类别").select_option("billing")
    await page.get_by_label("投诉内容").fill(f"患者家属：缴费窗口多收费用 {RUN}")
    await page.get_by_role("button", name="登记投诉").click()
    await page.wait_for_url(re.compile(r".*/cases(/TS-.*|\?opened=.*)"))
    assert "投诉已登记" in await page.inner_text("[role=status]")
    await screenshot(page, "desk-new-relative")


async def test_the_desk_opens_a_complaint_from_the_form_keeping_what_was_typed_on_an_error(
    page: Page, stack: dict[str, RunningService], task: dict[str, Any]
) -> None:
    console = stack["console"].url
    await page.set_viewport_size({"width": 1280, "height": 800})  # a desk PC's screen
    await page.goto(f"{console}/cases")
    await page.get_by_role("link", name="登记新投诉").click()
    await page.wait_for_url("**/cases/new")
    await page.get_by_label("姓名", exact=True).fill("钱学文")
    await page.get_by_label("现场").check()
    await page.get_by_label("类别").select_option("waiting_time")
    await page.get_by_label("复杂程度").select_option("complex")
    await page.get_by_label("被投诉科室代码").fill(DEPT)
    await page.get_by_role("button", name="登记投诉").click()  # no text, no patient id
    assert "不能为空" in await page.inner_text("#err-description")
    assert await page.locator("#err-patient_id").count() == 0  # a name is enough (a relative)
    assert "家属或访客无患者ID" in await page.inner_text("main")
    assert await page.get_by_label("姓名", exact=True).input_value() == "钱学文"  # kept
    assert await page.get_by_label("类别").input_value() == "waiting_time"
    assert await page.get_by_label("现场").is_checked()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1280
    await screenshot(page, "desk-new-errors")

    await page.get_by_label("查找患者（电话或姓名）").fill(f"{PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}")
    await page.get_by_role("button", name="查找").click()
    await page.locator("tr", has_text="钱学文").get_by_role("button", name="选用").click()
    assert await page.get_by_label("患者ID").input_value() == task["patient"]["patient_id"]
    text = f"候诊两小时无人解释 {RUN}"
    await page.get_by_label("投诉内容").fill(text)
    await screenshot(page, "desk-new")
    await page.get_by_role("button", name="登记投诉").click()
    await page.wait_for_url(re.compile(r".*/cases(/TS-.*|\?opened=.*)"))
    assert "投诉已登记" in await page.inner_text("[role=status]")

    async with httpx.AsyncClient(base_url=stack["complaints"].url, timeout=10) as api:
        params = {"patient_id": task["patient"]["patient_id"]}
        found = await api.get("/v1/cases", params=params, headers=auth("dev-admin-token"))
    [case] = [c for c in found.json()["items"] if c["description"] == text]
    assert (case["channel"], case["category"], case["complex"]) == ("onsite", "waiting_time", True)
    assert case["department"]["code"] == DEPT


async def access_reasons(dsn: str, schema: str, staff_id: str, route: str) -> list[str | None]:
    """The reasons of `staff_id`'s access records of `route` in the `schema` service."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            f"SELECT reason FROM {schema}.access_records WHERE staff_id = $1 AND route = $2"
            " ORDER BY id",
            staff_id,
            route,
        )
    finally:
        await conn.close()
    return [r["reason"] for r in rows]


async def test_the_inbox_shows_unread_notes_and_opens_the_task_they_are_about(
    page: Page, stack: dict[str, RunningService], task: dict[str, Any]
) -> None:
    console = stack["console"].url
    await page.goto(f"{console}/")
    badge = page.locator("nav .badge")
    await badge.wait_for()
    before = int(await badge.inner_text())
    assert before >= 1
    await page.goto(f"{console}/inbox")
    assert int(await page.inner_text("#unread-total")) == before
    note = page.locator("tr.unread", has_text=task["task_id"])
    await note.wait_for()
    # the note's text names the task without the address of its page (CONSOLE_BASE_URL, in
    # the text for the other channels): the button below opens it
    text = await note.locator("td").nth(1).inner_text()
    assert task["task_id"] in text and "/calls/" not in text, text
    await screenshot(page, "inbox")
    await note.get_by_role("button", name="打开").click()
    await page.wait_for_url(f"**/calls/{task['task_id']}")
    after = await page.locator("nav .badge").all()
    assert (int(await after[0].inner_text()) if after else 0) == before - 1
    await page.get_by_role("link", name="English").click()  # the same screens in English
    await page.wait_for_url(f"**/calls/{task['task_id']}")
    main = await page.inner_text("main")
    assert "Patient and visit" in main
    assert "Not visible to your role (" in main and "（" not in main  # no Chinese bracket
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "call-en")
    await page.goto(f"{console}/worklist")
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "worklist-en")


async def test_a_form_the_service_refuses_shows_why_and_the_way_back_not_a_raw_error(
    page: Page, stack: dict[str, RunningService], task: dict[str, Any]
) -> None:
    """The inbox's form posted for a note the notifications service cannot take (its id edited,
    as a hand-made or mangled form sends it): the service answers 422 and the console shows
    its "request not accepted" page with the service's reason, a link back to the page the
    form was on, and a language switch that shows that page, in Chinese and in English."""
    console = stack["console"].url

    async def post_edited_form(button: str) -> int:
        await page.goto(f"{console}/inbox")
        form = page.locator("tr", has_text=task["task_id"]).locator("form")
        await form.wait_for()
        await form.evaluate("f => f.setAttribute('action', '/inbox/not-a-note/read')")
        async with page.expect_navigation() as sent:
            await form.get_by_role("button", name=button).click()
        return (await sent.value).status  # type: ignore[union-attr]

    assert await post_edited_form("打开") == 422
    assert await page.inner_text("h1") == "请求未被接受"
    notice = await page.inner_text("[role=alert]")
    assert "后台服务没有接受这个请求" in notice and "message_id：不是有效的编号" in notice
    assert "Traceback" not in notice and "{" not in notice
    assert await page.get_attribute("#back", "href") == "/inbox"
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "problem-page")
    await page.get_by_role("link", name="English").click()  # the form's page, in English
    await page.wait_for_url(f"{console}/inbox")
    assert "Inbox" in await page.inner_text("h1")

    assert await post_edited_form("Open") == 422
    assert await page.inner_text("h1") == "Request not accepted"
    assert "Input should be a valid UUID" in await page.inner_text("[role=alert]")
    await screenshot(page, "problem-page-en")
    await page.get_by_role("link", name="Back to the previous page").click()
    await page.wait_for_url(f"{console}/inbox")
    assert await page.locator("tr", has_text=task["task_id"]).count() == 1


async def test_an_agent_takes_an_unassigned_call_of_their_department(
    browser: Browser, stack: dict[str, RunningService], stack_env
) -> None:  # type: ignore[no-untyped-def]
    patient = {"patient_id": f"PX{RUN}", "name": "孙待领", "phone": "13912345678"}
    await discharge_for(stack, TAKER, capacity=0, patient=patient, department_name="骨科")
    session = await signed_in(stack_env["DATABASE_URL"], TAKER_TOKEN, principal=TAKER)
    context = await console_context(browser, stack["console"].url, session)
    page = await context.new_page()

    async def listed() -> bool:
        await page.goto(f"{stack['console'].url}/worklist")
        return await page.locator("tr", has_text="孙待领").count() == 1

    await eventually(listed, timeout=60, interval=1)
    await screenshot(page, "worklist-available")
    await (
        page.locator("tr", has_text="孙待领").get_by_role("button", name=re.compile("领取")).click()
    )
    await page.wait_for_url("**/calls/FU-*")
    assert "孙待领" in await page.inner_text("h1")
    # The take read the patient's task: its access record says who and why (issue 24).
    task_id = page.url.rsplit("/", 1)[-1]
    taken = "/v1/tasks/{task_id}/take"
    dsn = stack_env["DATABASE_URL"]
    assert await access_reasons(dsn, "followup", TAKER.staff_id, taken) == [f"回访 {task_id}"]
    await page.goto(f"{stack['console'].url}/worklist")
    mine = page.locator("section", has_text="已逾期").locator("tr", has_text="孙待领")
    assert await mine.count() == 1
    await context.close()


async def test_an_outcome_typed_on_a_screen_of_the_calls_earlier_life_is_refused_and_kept(
    browser: Browser, stack: dict[str, RunningService], stack_env
) -> None:  # type: ignore[no-untyped-def]
    """The call screen open (in Chinese and in English) while the discharge is cancelled and
    entered again: before, saving recorded the old life's call as the new life's first attempt
    (attempt 1 was its next one). Now each is refused with why, the task as it is now and what
    was typed; saved again, it is recorded on the new life."""
    console, followup = stack["console"].url, stack["followup"].url
    patient = {"patient_id": f"PL{RUN}", "name": "孙重排", "phone": "13912340000"}
    await discharge_for(stack, AGENT, capacity=20, patient=patient, department_name="心血管内科")
    first = await assigned_task(followup, TOKEN, patient["patient_id"])
    session = await signed_in(stack_env["DATABASE_URL"], TOKEN, principal=AGENT)
    pages = {}
    for lang in ("zh", "en"):
        context = await console_context(browser, console, session, lang=lang)
        pages[lang] = page = await context.new_page()
        await page.goto(f"{console}/calls/{first['task_id']}")
        await page.locator("input[name=reached][value=yes]").check()
        await page.locator("input[name=satisfaction][value=satisfied]").check()
        await page.locator("#o-feedback").fill(f"出院后恢复良好（{lang}）")
    life = await plan_again(stack_env["KAFKA_BOOTSTRAP_SERVERS"], first, patient)
    again = await eventually(lambda: in_life(followup, first["task_id"], life), timeout=60)
    assert (again["status"], again["attempts_made"]) == ("assigned", 0)

    for lang, page in pages.items():
        async with page.expect_navigation() as sent:
            await page.locator("form[action$='/outcome'] button[type=submit]").click()
        assert (await sent.value).status == 409  # type: ignore[union-attr]
        assert await page.input_value("#o-feedback") == f"出院后恢复良好（{lang}）"
        assert await page.input_value("input[name=generation]") == "2"
        await screenshot(page, f"call-earlier-life-{lang}")
    assert "已被撤销并重新安排" in await pages["zh"].inner_text("[role=alert]")
    assert "withdrawn and planned again" in await pages["en"].inner_text("[role=alert]")
    assert (await in_life(followup, first["task_id"], life) or {}).get("attempts_made") == 0

    await pages["zh"].get_by_role("button", name="保存回访结果").click()
    await pages["zh"].wait_for_url("**/worklist?saved=*")
    saved = await in_life(followup, first["task_id"], life)
    assert saved is not None
    assert (saved["status"], saved["attempts_made"], saved["generation"]) == ("completed", 1, 2)
    assert saved["outcome"]["feedback"] == "出院后恢复良好（zh）"
    for page in pages.values():
        await page.context.close()


async def plan_again(bootstrap: str, task: dict[str, Any], patient: dict[str, str]) -> str:
    """The hospital cancels the task's discharge, then enters it again (its second life): the
    id of the discharge entered again."""
    admission = task["why"]["source_ref"]
    now = datetime.now(UTC)
    cancel = envelope("discharge.cancelled", {"admission_id": admission}, subject="x")
    cancel["time"] = (now - timedelta(seconds=5)).isoformat()
    department = {"code": DEPT, "name": "心血管内科"}
    again = discharge(admission_id=admission, patient=patient, department=department,
                      discharged_at=now.isoformat())  # fmt: skip
    key = patient["patient_id"]
    await publish(bootstrap, topics.DISCHARGES, [(key, to_bytes(cancel)), (key, to_bytes(again))])
    return str(again["id"])


async def in_life(followup_url: str, task_id: str, source: str) -> dict[str, Any] | None:
    """The task once it is assigned in the life the event `source` planned (None before; the
    agent does not see it while it waits unassigned)."""
    async with httpx.AsyncClient(base_url=followup_url, timeout=10) as api:
        answer = await api.get(f"/v1/tasks/{task_id}", headers=auth(TOKEN))
    found: dict[str, Any] = answer.json()
    live = answer.status_code == 200 and found["why"]["source_event_id"] == source
    return found if live and found["status"] != "planned" else None
