"""The complaint category rules' screen (投诉分类规则) on the real stack: before it, supervisors
and operations changed the keywords that file a complaint under a category with hand-made
`/v1/category-rules` calls.

- Operations open it from the menu (设置 → 投诉分类规则) and add a rule: no category chosen
  (the console's refusal), then an order that is no number: the complaints service's refusal
  beside it, in Chinese, what was typed kept, nothing saved; corrected, it is saved: the list
  with it marked (a reload posts nothing), and the service's own `GET /v1/category-rules` has
  it last. Moved up, it is tried before the rule that was before it; switched off, the service
  has it disabled. Adding a rule of a category and keyword that exists is refused naming it.
- In English, a keyword left empty is refused beside it; an agent reads the rules without a
  menu entry or a form.
- A page opened before a colleague changed the rules: a move from it is refused (the whole
  order goes as one `PUT /v1/category-rules/order` made from the list's version), the list
  shown as it now is with a message, in Chinese and English, nothing moved; a rule's edit form
  saves what was changed in it (the note), not the colleague's switch-off put back.

The rule added is deleted and the positions put back after (a move numbers the list again).
Screenshots go to test-artifacts/screenshots/ (1366x768)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser

from tests.browser import (
    has_no_horizontal_scroll,
    open_setting,
    page_as,
    screenshot,
    send,
    submit,
)
from tests.integration.services import RunningService, running_all

SERVICES = ("complaints", "console")
ADMIN = {"Authorization": "Bearer dev-admin-token"}
KEYWORD = "停车难（屏幕测试）"


async def put_back(dsn: str, positions: dict[int, int]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM complaints.category_rules WHERE keyword = $1", KEYWORD)
        await conn.executemany(
            "UPDATE complaints.category_rules SET position = $2 WHERE id = $1",
            list(positions.items()),
        )
    finally:
        await conn.close()


async def rules_of(stack: dict[str, RunningService]) -> list[dict[str, Any]]:
    """The rules as complaints has them, in the order they are tried (the API the screen calls)."""
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(f"{stack['complaints'].url}/v1/category-rules", headers=ADMIN)
    resp.raise_for_status()
    return list(resp.json()["rules"])


@pytest.fixture(scope="module")
async def stack(stack_config, stack_env) -> AsyncIterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, SERVICES, {}) as services:
        positions = {r["id"]: r["position"] for r in await rules_of(services)}
        yield services
        await put_back(stack_env["DATABASE_URL"], positions)


async def test_operations_add_a_rule_after_refusals_move_it_up_and_switch_it_off(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    before = await rules_of(stack)
    page = await page_as(browser, stack, stack_env, "dev-admin-token")
    assert await open_setting(page, stack["console"].url, "投诉分类规则") == "投诉分类规则"
    assert before[0]["keyword"] in await page.inner_text(f"#rule-{before[0]['id']}")
    await send(page, "#rules-add")
    await page.fill("#rules-keyword", KEYWORD)
    await page.fill("#rules-position", "前面")
    await submit(page, "#rules-save")
    assert await page.inner_text("#err-category") == "必填"
    await page.select_option("#rules-category", "environment")
    await submit(page, "#rules-save")
    assert await page.inner_text("#err-position") == "应为整数"
    assert await page.get_attribute("#rules-position", "aria-describedby") == "err-position"
    assert await page.input_value("#rules-keyword") == KEYWORD
    assert await page.input_value("#rules-category") == "environment"
    assert len(await rules_of(stack)) == len(before)  # nothing saved
    await screenshot(page, "rules-refused")
    await page.fill("#rules-position", "")  # blank: last
    await submit(page, "#rules-save")
    rules = await rules_of(stack)
    added = rules[-1]
    assert (added["keyword"], added["category"], added["enabled"]) == (KEYWORD, "environment", True)
    assert page.url.endswith(f"/category-rules?saved={added['id']}#rule-{added['id']}")
    await page.reload()  # POST-redirect-GET: nothing posted again
    assert len(await rules_of(stack)) == len(before) + 1
    assert KEYWORD in await page.inner_text("#rules-saved")
    await send(page, f"#rule-{added['id']} button[value=up]")
    order = [r["id"] for r in await rules_of(stack)]
    assert order[-2:] == [added["id"], before[-1]["id"]]  # now tried before the one before it
    await send(page, f"#rule-{added['id']} button[value=disable]")
    assert next(r for r in await rules_of(stack) if r["id"] == added["id"])["enabled"] is False
    assert "已停用" in await page.inner_text(f"#rule-{added['id']}")
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "rules-saved")
    await page.goto(f"{stack['console'].url}/category-rules?edit=new#h-form")
    await page.fill("#rules-keyword", KEYWORD)
    await page.select_option("#rules-category", "environment")
    await submit(page, "#rules-save")
    assert f"（#{added['id']}）" in await page.inner_text("#err-keyword")  # change that one


async def _colleague_changes(
    stack: dict[str, RunningService], rule_id: int, **changes: Any
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.patch(
            f"{stack['complaints'].url}/v1/category-rules/{rule_id}", json=changes, headers=ADMIN
        )
    resp.raise_for_status()


async def test_a_page_opened_before_a_colleagues_change_moves_nothing_and_keeps_the_change(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    first, second = (await rules_of(stack))[:2]
    console = stack["console"].url
    page = await page_as(browser, stack, stack_env, "dev-admin-token")
    english = await page_as(browser, stack, stack_env, "dev-admin-token", lang="en")
    for opened in (page, english):
        await opened.goto(f"{console}/category-rules")
    await _colleague_changes(stack, second["id"], enabled=False)
    await send(page, f"#rule-{second['id']} button[value=up]")
    assert "规则在您打开本页后已被他人更改，未作移动" in await page.inner_text("#rules-stale")
    assert "已停用" in await page.inner_text(f"#rule-{second['id']}")  # the list as it now is
    assert [r["id"] for r in (await rules_of(stack))[:2]] == [first["id"], second["id"]]
    await screenshot(page, "rules-stale")
    await send(english, f"#rule-{second['id']} button[value=up]")
    assert "nothing was moved" in await english.inner_text("#rules-stale")
    await screenshot(english, "rules-stale-en")

    await _colleague_changes(stack, second["id"], enabled=True)
    await page.goto(f"{console}/category-rules?edit={second['id']}#h-form")
    await _colleague_changes(stack, second["id"], enabled=False)  # after the form was opened
    await page.fill("#rules-note", "同事停用后补的备注")
    await submit(page, "#rules-save")
    saved = next(r for r in await rules_of(stack) if r["id"] == second["id"])
    assert (saved["note"], saved["enabled"]) == ("同事停用后补的备注", False)
    await _colleague_changes(stack, second["id"], enabled=second["enabled"], note=second["note"])


async def test_the_rules_in_english_and_read_only_for_an_agent(
    browser: Browser, stack: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    first = (await rules_of(stack))[0]
    page = await page_as(browser, stack, stack_env, "dev-admin-token", lang="en")
    await page.goto(f"{stack['console'].url}/category-rules?edit={first['id']}#h-form")
    assert await page.inner_text("h1") == "Complaint category rules"
    await page.fill("#rules-keyword", "  ")
    await submit(page, "#rules-save")
    assert await page.inner_text("#err-keyword") != ""
    assert (await rules_of(stack))[0]["keyword"] == first["keyword"]  # nothing saved
    await screenshot(page, "rules-refused-en")

    agent = await page_as(browser, stack, stack_env, "dev-agent-token")
    await agent.goto(f"{stack['console'].url}/category-rules?edit=new")
    assert "设置" not in await agent.inner_text("nav")
    assert await agent.locator("#rules-keyword").count() == 0
    assert first["keyword"] in await agent.inner_text(f"#rule-{first['id']}")
