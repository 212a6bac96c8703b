"""The patient survey by SMS link on the real stack (Kafka, PostgreSQL, Kannel, the
notifications, follow-up and metrics services): a visit's invitation reaches the fake SMSC,
a patient opens its link in Chromium on a 360x640 phone screen, answers, sees the thank-you
page; the link is refused after that; the KPIs move once. Then what a patient, a crawler or
an attacker may send: tampered, expired and reused tokens, oversized answers, unknown
questions, a form without its cookie, and 1,000 submissions on one token at once.

Screenshots go to test-artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import Page

from hospital_shared import topics
from hospital_shared.codec import encode
from hospital_shared.events import make_event
from hospital_shared.service_events.followup import FollowUpTaskUnreachable
from notifications.settings import Settings
from notifications.survey_api import SurveyGate, survey_router
from notifications.survey_limits import SharedLimits
from tests import factories
from tests.integration.services import RunningService, running_all
from tests.integration.test_notifications_sms import BASE_ENV, send_events, sms_received
from tests.kafka_tools import eventually, json_values, publish, read_all
from tests.local_days import local_days, summed

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LINK = re.compile(r"(https?://\S+?/s/[A-Za-z0-9_-]{32})")
ENV = {
    **BASE_ENV,
    "NOTIFICATIONS_SURVEY_CONTACTS": '["outpatient_visit", "first_visit"]',
    "NOTIFICATIONS_SURVEY_DELAY_H": "0",  # the visit an hour ago: the invitation goes now
    # one client address (this test) sends all requests, the burst included: the per-address
    # limit is checked in tests/notifications/test_survey_routes.py
    "NOTIFICATIONS_SURVEY_RATE_PER_ADDRESS": "100000",
}


@pytest.fixture(scope="module")
def services(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, ["notifications", "metrics"], {"notifications": ENV}) as s:
        yield s


async def visit_with_link(stack_config: Any, stack_env: dict[str, str], department: str) -> str:
    """A return visit an hour ago in `department`; the survey link its patient received."""
    n = uuid.uuid4().int % 10**8
    marker = f"SV{n}"
    visit = factories.registration(
        n,
        registration_id=f"{marker}-R",
        patient=factories.patient(n, phone=f"139{n:08d}"),
        department={"code": department, "name": "内科"},
        visit_type="return",
        registered_at=(datetime.now(UTC) - timedelta(hours=2)).isoformat(),
        appointment_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    )
    await send_events(stack_env, topics.REGISTRATIONS, visit)

    def received() -> str | None:
        texts = [t for to, t in sms_received(stack_config, "评价") if to.endswith(f"{n:08d}")]
        found = [m.group(1) for t in texts if (m := LINK.search(t))]
        return found[0] if found else None

    link: str = await eventually(received, timeout=60)
    return link


async def kpis(
    metrics: RunningService, stack_env: dict[str, str], department: str
) -> dict[str, Any]:
    """The department's KPIs of the local days of the visits (an hour ago) and of the answers
    (now), added up: two days when the test runs in the first hour after local midnight."""
    headers = {"Authorization": f"Bearer {stack_env['TOKEN_SUPERVISOR']}"}
    now = datetime.now(UTC)
    reports = []
    async with httpx.AsyncClient(base_url=metrics.url, timeout=10) as client:
        for day in local_days(now - timedelta(hours=1), now):
            params = {"period": "day", "date": day.isoformat(), "department": department}
            body = (await client.get("/v1/kpi", params=params, headers=headers)).json()
            reports.append({k["key"]: (k["numerator"], k["denominator"]) for k in body["kpis"]})
    return summed(reports)


def browser_answers(link: str, name: str) -> tuple[str, str, str]:
    """Open the link on a phone-sized Chromium, answer, submit; then open it again. Returns
    the texts of the form, the thank-you page and the second visit."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            context = browser.new_context(
                viewport={"width": 360, "height": 640}, device_scale_factor=2, is_mobile=True,
                has_touch=True, locale="zh-CN",
            )  # fmt: skip
            page = context.new_page()
            outside: list[str] = []
            page.on(
                "request",
                lambda r: (
                    outside.append(r.url) if not r.url.startswith(link.split("/s/")[0]) else None
                ),
            )
            page.goto(link)
            form = page.inner_text("main")
            page.screenshot(path=str(SHOTS / f"{name}-form.png"), full_page=True)
            page.check("input[name='q.registration'][value='dissatisfied']")
            page.check("input[name='q.guidance'][value='satisfied']")
            page.check("input[name='q.overall'][value='fairly_satisfied']")
            page.select_option("select[name='s.overall']", "4")
            page.fill("textarea[name='t.comments']", "挂号排队太久了")
            page.screenshot(path=str(SHOTS / f"{name}-filled.png"), full_page=True)
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(SHOTS / f"{name}-phone.png"))  # what the phone shows first
            page.click("button[type='submit']")
            page.wait_for_selector("text=感谢您的评价")
            thanks = page.inner_text("main")
            page.screenshot(path=str(SHOTS / f"{name}-thanks.png"))
            again = page.goto(link)
            assert again is not None and again.status == 410
            second = page.inner_text("main")
            page.screenshot(path=str(SHOTS / f"{name}-used.png"))
            assert outside == [], outside  # no outside asset, no script, no font
        finally:
            browser.close()
    return form, thanks, second


PHONE = {"width": 390, "height": 844}  # the auditor's phone (S/survey-390-*.png)


@contextlib.contextmanager
def phone_page() -> Iterator[Page]:
    """A page of Chromium on a 390x844 phone, in Chinese."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            context = browser.new_context(
                viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                locale="zh-CN",
            )  # fmt: skip
            yield context.new_page()
        finally:
            browser.close()


def browser_comes_back_to_a_form(link: str, name: str) -> tuple[str, str]:
    """On a 390x844 phone in Chinese: answer, leave the page open past its cookie (cleared
    here), submit; the page comes back with the answers; submit again. Returns the texts of
    the page that came back and of the thank-you page."""
    with phone_page() as page:
        page.goto(link)
        page.check("input[name='q.registration'][value='dissatisfied']")
        page.check("input[name='q.overall'][value='fairly_satisfied']")
        page.select_option("select[name='s.overall']", "3")
        page.fill("textarea[name='t.comments']", "候诊一个多小时")
        page.context.clear_cookies()  # an hour and more later: the cookie has run out
        page.click("button[type='submit']")
        page.wait_for_selector("text=已为您保留")
        back = page.inner_text("main")
        assert page.is_checked("input[name='q.registration'][value='dissatisfied']")
        assert page.is_checked("input[name='q.overall'][value='fairly_satisfied']")
        assert page.input_value("select[name='s.overall']") == "3"
        assert page.input_value("textarea[name='t.comments']") == "候诊一个多小时"
        page.screenshot(path=str(SHOTS / f"{name}-stale-kept.png"), full_page=True)
        page.click("button[type='submit']")
        page.wait_for_selector("text=感谢您的评价")
        thanks = page.inner_text("main")
        page.screenshot(path=str(SHOTS / f"{name}-stale-thanks.png"))
    return back, thanks


def browser_misses_an_answer(link: str, name: str) -> dict[str, Any]:
    """On a 390x844 phone in Chinese: answer all but the required question, submit. What a
    screen reader is given for the score and for the question to fix."""
    with phone_page() as page:
        page.goto(link)
        score = page.get_by_label("评分（5分最好）")  # the drop-down by its label
        found = {"score_labelled": score.get_attribute("name")}
        page.check("input[name='q.registration'][value='satisfied']")
        page.click("button[type='submit']")
        page.wait_for_selector("#e-overall")
        first = page.locator("input[name='q.overall']").first
        found |= {
            "summary": page.inner_text("p.err"),
            "mark": page.inner_text("#e-overall"),
            "described": first.get_attribute("aria-describedby"),
            "invalid": first.get_attribute("aria-invalid"),
            "others": page.locator("[aria-describedby]").count(),
            "kept": page.is_checked("input[name='q.registration'][value='satisfied']"),
        }
        page.screenshot(path=str(SHOTS / f"{name}-error-top.png"))
        page.locator("#e-overall").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"{name}-error-question.png"))
    return found


async def test_a_missing_answer_is_marked_at_its_question_for_eyes_and_screen_readers(
    services: dict[str, RunningService], stack_config: Any, stack_env: dict[str, str]
) -> None:
    """S/survey-390-error.png: the score's drop-down had no label, and a missing answer was
    said only at the top of the page, a long scroll away from its question on a phone."""
    link = await visit_with_link(stack_config, stack_env, f"M{uuid.uuid4().hex[:6]}")
    found = await asyncio.to_thread(browser_misses_an_answer, link, "survey-390")
    assert found["score_labelled"] == "s.overall"
    assert found["summary"] == "“您对本次就医总体是否满意？”：请选择一项"  # the summary kept
    assert found["mark"] == "请选择一项"
    assert (found["described"], found["invalid"]) == ("e-overall", "true")
    assert found["others"] == 4 and found["kept"]  # 3 choices and the score, nothing else


async def test_a_form_left_open_past_its_cookie_keeps_its_answers_and_is_taken_once(
    services: dict[str, RunningService], stack_config: Any, stack_env: dict[str, str]
) -> None:
    """S/survey-390-stale.png: a form left open an hour gave "页面已失效" and lost every
    answer. Now it comes back filled, with a fresh check, and the next press of 提交 is the
    one answer recorded."""
    department = f"K{uuid.uuid4().hex[:6]}"
    link = await visit_with_link(stack_config, stack_env, department)
    back, thanks = await asyncio.to_thread(browser_comes_back_to_a_form, link, "survey-390")
    assert "页面已失效" in back and "感谢您的评价" in thanks

    async def answered() -> list[dict[str, Any]] | None:
        events = json_values(await read_all(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.SURVEYS))
        mine = [e["data"] for e in events if e["data"].get("department_code") == department]
        return mine or None

    [event] = await eventually(answered, timeout=30)
    assert {a["question_id"]: a.get("score") for a in event["answers"]}["overall"] == 3


async def test_a_patient_answers_the_sms_link_on_a_phone_once_and_the_kpis_move_once(
    services: dict[str, RunningService], stack_config: Any, stack_env: dict[str, str]
) -> None:
    department = f"S{uuid.uuid4().hex[:6]}"
    link = await visit_with_link(stack_config, stack_env, department)
    assert "/s/" in link and department not in link
    form, thanks, second = await asyncio.to_thread(browser_answers, link, "survey")
    assert "门诊就医满意度调查" in form and "导医" in form
    assert "感谢您的评价" in thanks
    assert "已经提交过了" in second

    async def moved() -> dict[str, Any] | None:
        got = await kpis(services["metrics"], stack_env, department)
        return got if got["survey_coverage_rate"] == (1, 1) else None

    got = await eventually(moved, timeout=60)
    assert got["registration_dissatisfaction_rate"] == (1, 1)
    assert got["guidance_dissatisfaction_rate"] == (0, 1)

    # The link again, as a form replayed by hand: refused, nothing published
    async with httpx.AsyncClient(timeout=10) as client:
        replay = await client.post(link, data={"csrf": "x", "v": "1", "q.overall": "satisfied"})
    assert replay.status_code in (403, 410) and "Traceback" not in replay.text

    # a second visit of the department answered: when its answer is counted, the first one
    # still counts once (the marker that proves nothing else came in meanwhile)
    other = await visit_with_link(stack_config, stack_env, department)
    async with httpx.AsyncClient(timeout=10) as client:
        page = await client.get(other)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        done = await client.post(
            other, data={"csrf": csrf.group(1), "v": "1", "q.overall": "satisfied"}
        )
    assert done.status_code == 200

    async def both() -> dict[str, Any] | None:
        got = await kpis(services["metrics"], stack_env, department)
        return got if got["survey_coverage_rate"][0] >= 2 else None

    got = await eventually(both, timeout=60)
    assert got["survey_coverage_rate"] == (2, 2)
    assert got["registration_dissatisfaction_rate"] == (1, 1)


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text[:200]
    return found.group(1)


async def test_bad_links_and_bad_answers_get_clear_pages_and_count_nothing_twice(
    services: dict[str, RunningService], stack_config: Any, stack_env: dict[str, str]
) -> None:
    department = f"B{uuid.uuid4().hex[:6]}"
    link = await visit_with_link(stack_config, stack_env, department)
    base, token = link.rsplit("/", 1)
    async with httpx.AsyncClient(timeout=30) as client:
        # tampered or malformed tokens: the same page as an unknown one, no trace
        for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), token[:-1], token + "A", "P1"):
            page = await client.get(f"{base}/{bad}")
            assert page.status_code == 404 and "链接无效" in page.text, bad
            assert "Traceback" not in page.text and "token" not in page.text.lower()
        form = await client.get(link)
        assert form.status_code == 200
        assert form.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in form.headers["content-security-policy"]
        csrf = csrf_of(form)
        answer = {"csrf": csrf, "v": "1", "q.overall": "satisfied"}
        # unknown question id, text past its limit, a body past the form's limit
        page = await client.post(link, data={**answer, "q.nope": "satisfied"})
        assert page.status_code == 422 and "问卷中没有这个问题" in page.text
        page = await client.post(link, data={**answer, "t.comments": "长" * 501})
        assert page.status_code == 422 and "最多500字" in page.text and 'name="csrf"' in page.text
        page = await client.post(link, data={**answer, "t.comments": "长" * 20_000})
        assert page.status_code == 413 and "内容太长" in page.text
        # text no consumer could decode (a NUL): the form again, the link still open (the
        # answer below is still taken once)
        page = await client.post(link, data={**answer, "t.comments": "hi\x00there"})
        assert page.status_code == 422 and "无法识别的字符" in page.text
        # a form without its cookie (another site posting it): refused
        async with httpx.AsyncClient(timeout=10) as stranger:
            page = await stranger.post(link, data=answer)
        assert page.status_code == 403 and "页面已失效" in page.text

        # 1,000 submissions of a valid form on one token at once: one answer, the rest refused
        async def submit() -> int:
            return (await client.post(link, data=answer)).status_code

        statuses = await asyncio.gather(*(submit() for _ in range(1000)))
        assert statuses.count(200) == 1, sorted(set(statuses))
        assert set(statuses) <= {200, 410, 429}, sorted(set(statuses))
        assert statuses.count(429) >= 900  # the per-link limit stops the rest before the database

        # expired: a second visit's link, its time run out
        late = await visit_with_link(stack_config, stack_env, department)
        form = await client.get(late)
        conn = await asyncpg.connect(stack_env["DATABASE_URL"])
        try:
            await conn.execute(
                "UPDATE notifications.survey_links SET expires_at = now() - interval '1 second'"
                " WHERE department_code = $1 AND answered_at IS NULL", department,
            )  # fmt: skip
        finally:
            await conn.close()
        page = await client.get(late)
        assert page.status_code == 410 and "链接已过期" in page.text
        page = await client.post(
            late, data={"csrf": csrf_of(form), "v": "1", "q.overall": "satisfied"}
        )
        assert page.status_code == 410 and "链接已过期" in page.text

    # counted once: one survey.answered for the department, and the KPI says one visit
    # covered; the other visit is an hour old: pending (METRICS_SURVEY_WINDOW_DAYS), its link
    # expired by hand here
    async def counted() -> dict[str, Any] | None:
        got = await kpis(services["metrics"], stack_env, department)
        return got if got["survey_coverage_rate"][0] >= 1 else None

    got = await eventually(counted, timeout=60)
    assert got["survey_coverage_rate"] == (1, 1)
    events = json_values(await read_all(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.SURVEYS))
    mine = [e for e in events if e["data"].get("department_code") == department]
    assert len(mine) == 1 and mine[0]["type"] == "survey.answered"


async def test_two_instances_hold_one_client_address_to_one_limit_together(
    services: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    """Two instances of the survey pages (each its own in-process limiter, as two processes
    behind a load balancer) count one client address on the counters they share in
    PostgreSQL: with a limit of 3, the fourth request is refused by whichever instance gets
    it. Each instance alone would have let 3 through (6 together)."""
    del services  # running: the notifications schema and its migrations exist
    settings = Settings(survey_rate_per_address=3, survey_rate_window_s=86_400)  # type: ignore[call-arg]
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    pool = await asyncpg.create_pool(
        stack_env["DATABASE_URL"], min_size=1, max_size=2,
        server_settings={"search_path": "notifications"},
    )  # fmt: skip
    assert pool is not None
    clients = []
    for _ in range(2):
        app = FastAPI()
        app.include_router(survey_router)
        app.state.runtime = SimpleNamespace(pool=pool, settings=settings)
        app.state.survey_gate = SurveyGate(settings, SharedLimits(settings.survey_rate_window_s))
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://survey"))
    a, b = clients
    try:
        statuses = [
            (await c.get(f"/s/not-a-token-{i}")).status_code for i, c in enumerate((a, b, a, b, a))
        ]
    finally:
        await a.aclose()
        await b.aclose()
        await pool.close()
    assert statuses == [404, 404, 404, 429, 429]


async def test_the_link_of_a_patient_reported_deceased_is_closed_and_records_nothing(
    services: dict[str, RunningService], stack_config: Any, stack_env: dict[str, str]
) -> None:
    """A link kept taking answers after the patient's death was reported (a later stay's
    discharge, `deceased`), and an unhappy answer planned a satisfaction second call to the
    family's phone. Now it is the expired link's page (nothing a family could read as a
    question to the patient), the form posted from before is refused, nothing is published."""
    department = f"D{uuid.uuid4().hex[:6]}"
    link = await visit_with_link(stack_config, stack_env, department)
    async with httpx.AsyncClient(timeout=10) as client:
        csrf = csrf_of(await client.get(link))
        conn = await asyncpg.connect(stack_env["DATABASE_URL"])
        try:
            patient_id = await conn.fetchval(
                "SELECT patient_id FROM notifications.survey_links WHERE department_code = $1",
                department,
            )
            death = factories.discharge(
                admission_id=f"{department}-A", patient=factories.patient(0, patient_id=patient_id),
                department={"code": department, "name": "内科"}, disposition="deceased",
                discharged_at=datetime.now(UTC).isoformat(),
            )  # fmt: skip
            await send_events(stack_env, topics.DISCHARGES, death)

            async def reported() -> bool | None:
                return (
                    await conn.fetchval(  # type: ignore[no-any-return]
                        "SELECT deceased FROM notifications.patients WHERE patient_id = $1",
                        patient_id,
                    )
                    or None
                )

            await eventually(reported, timeout=30)
            page = await client.get(link)
            assert page.status_code == 410 and "链接已过期" in page.text
            assert 'name="csrf"' not in page.text
            page = await client.post(
                link, data={"csrf": csrf, "v": "1", "q.overall": "dissatisfied"}
            )
            assert page.status_code == 410 and "链接已过期" in page.text
            assert await conn.fetchval(
                "SELECT answered_at FROM notifications.survey_links WHERE department_code = $1",
                department,
            ) is None  # fmt: skip
        finally:
            await conn.close()
    shown = await asyncio.to_thread(browser_sees_the_closed_link, link, "survey-390")
    assert "链接已过期" in shown and "感谢您的关注" in shown
    events = json_values(await read_all(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.SURVEYS))
    assert [e for e in events if e["data"].get("department_code") == department] == []


def browser_sees_the_closed_link(link: str, name: str) -> str:
    with phone_page() as page:
        page.goto(link)
        page.screenshot(path=str(SHOTS / f"{name}-deceased-closed.png"))
        return page.inner_text("main")


def browser_answers_in_lines(link: str, name: str) -> tuple[int, str]:
    """On a phone: a comment of 20 lines of 24 characters typed with Enter between them (499
    characters as the textarea counts them, under its maxlength of 500), submitted. The
    length the browser counted, and the page after 提交."""
    with phone_page() as page:
        page.goto(link)
        page.check("input[name='q.overall'][value='satisfied']")
        page.click("textarea[name='t.comments']")
        for i in range(20):
            page.keyboard.type("挂号排队时间太长了希望可以改进一下流程谢谢大家好")
            if i < 19:
                page.keyboard.press("Enter")
        counted = page.eval_on_selector(
            "textarea[name='t.comments']", "e => e.validity.tooLong ? -1 : e.value.length"
        )
        page.screenshot(path=str(SHOTS / f"{name}-lines-filled.png"), full_page=True)
        page.click("button[type='submit']")
        page.wait_for_load_state()
        page.screenshot(path=str(SHOTS / f"{name}-lines-sent.png"))
        return counted, page.inner_text("main")


async def test_a_comment_of_many_lines_the_phone_accepts_is_taken_with_its_line_breaks(
    services: dict[str, RunningService], stack_config: Any, stack_env: dict[str, str]
) -> None:
    """Chromium counts a line break as one character against maxlength=500 and posts it as
    CRLF (two): a comment of 499 as the phone counted it was refused as past 500."""
    department = f"L{uuid.uuid4().hex[:6]}"
    link = await visit_with_link(stack_config, stack_env, department)
    counted, shown = await asyncio.to_thread(browser_answers_in_lines, link, "survey-390")
    assert counted == 499
    assert "感谢您的评价" in shown, shown

    async def answered() -> list[dict[str, Any]] | None:
        events = json_values(await read_all(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.SURVEYS))
        mine = [e["data"] for e in events if e["data"].get("department_code") == department]
        return mine or None

    [event] = await eventually(answered, timeout=30)
    comment = {a["question_id"]: a.get("text") for a in event["answers"]}["comments"]
    assert len(comment) == 499 and comment.count("\n") == 19 and "\r" not in comment


async def test_every_address_under_s_and_a_head_get_the_survey_pages_from_the_service(
    services: dict[str, RunningService],
) -> None:
    """Through the running service (uvicorn): `/s`, `/s/`, `/s/<token>/x`, `/s//<token>` and a
    PUT answered problem+json, a HEAD of a link 405; the unknown link's page now, and HEAD as
    GET (a phone's link preview)."""
    base, token = services["notifications"].url, "A" * 32
    async with httpx.AsyncClient(base_url=base, timeout=10, follow_redirects=False) as client:
        for method, path in (("GET", "/s"), ("GET", "/s/"), ("GET", f"/s/{token}/x"),
                             ("GET", f"/s//{token}"), ("PUT", f"/s/{token}")):  # fmt: skip
            page = await client.request(method, path)
            assert page.status_code == 404 and "链接无效" in page.text, (method, path)
            assert page.headers["content-type"].startswith("text/html")
        head = await client.head(f"/s/{token}")
        assert head.status_code == 404 and head.content == b""
        assert head.headers["content-type"].startswith("text/html")


def browser_presses_submit_past_the_links_limit(link: str, name: str) -> dict[str, Any]:
    """On a phone: answer, then (another tab, a refresh too many) the link's limit is reached
    before 提交 is pressed. What the page after 提交 says and holds."""
    with phone_page() as page:
        page.goto(link)
        page.check("input[name='q.overall'][value='dissatisfied']")
        page.fill("textarea[name='t.comments']", "候诊太久\n护士态度好")
        with httpx.Client(timeout=10) as other:  # the rest of the link's 20 requests
            for _ in range(19):
                other.get(link)
        page.click("button[type='submit']")
        page.wait_for_selector("text=再次提交")
        page.screenshot(path=str(SHOTS / f"{name}-429-kept.png"))
        hidden = page.locator("form input[type='hidden']")
        return {
            "text": page.inner_text("main"),
            "kept": {hidden.nth(i).get_attribute("name"): hidden.nth(i).input_value()
                     for i in range(hidden.count())},
        }  # fmt: skip


async def test_answers_refused_past_the_links_limit_are_kept_to_be_sent_again(
    services: dict[str, RunningService], stack_config: Any, stack_env: dict[str, str]
) -> None:
    """A 429 after pressing 提交 lost the patient's answers (only the CSRF refusal kept them):
    the page says so and keeps them, sent again by its button once the patient waits."""
    link = await visit_with_link(stack_config, stack_env, f"T{uuid.uuid4().hex[:6]}")
    found = await asyncio.to_thread(browser_presses_submit_past_the_links_limit, link, "survey-390")
    assert "操作太频繁" in found["text"] and "已为您保留" in found["text"]
    kept = found["kept"]
    assert kept["q.overall"] == "dissatisfied" and kept["t.comments"] == "候诊太久\n护士态度好"
    assert {"csrf", "v"} <= set(kept)


async def test_operations_publish_a_new_version_and_a_form_of_the_old_one_keeps_its_version(
    services: dict[str, RunningService], stack_config: Any, stack_env: dict[str, str]
) -> None:
    """Runs last in this module: it changes the outpatient questionnaire."""
    department = f"Q{uuid.uuid4().hex[:6]}"
    old_link = await visit_with_link(stack_config, stack_env, department)
    new_link = await visit_with_link(stack_config, stack_env, department)
    base = services["notifications"].url
    draft = {
        "title": "门诊满意度（新版）",
        "questions": [
            {"id": "overall", "aspect": "overall", "text": "总体满意吗？", "required": True},
            {"id": "waiting", "aspect": "registration", "text": "候诊时间可以接受吗？"},
        ],
    }
    async with httpx.AsyncClient(timeout=10) as client:
        old_form = await client.get(old_link)  # opened before the change: version 1
        as_agent = {"Authorization": f"Bearer {stack_env['TOKEN_AGENT']}"}
        admin = {"Authorization": f"Bearer {stack_env['TOKEN_ADMIN']}"}
        refused = await client.put(f"{base}/v1/questionnaires/outpatient_visit", json=draft,
                                   headers=as_agent)  # fmt: skip
        assert refused.status_code == 403
        twice = {**draft, "questions": draft["questions"] * 2}
        bad = await client.put(
            f"{base}/v1/questionnaires/outpatient_visit", json=twice, headers=admin
        )
        assert bad.status_code == 422 and "questions" in bad.text
        saved = await client.put(
            f"{base}/v1/questionnaires/outpatient_visit", json=draft, headers=admin
        )
        assert saved.status_code == 200 and saved.json()["version"] == 2
        listed = (await client.get(f"{base}/v1/questionnaires", headers=as_agent)).json()
        assert {q["kind"]: q["version"] for q in listed["items"]}["outpatient_visit"] == 2
        # the page of the previous release posted 不满意 / 满意 (issue 18: still taken)
        old = await client.post(old_link, data={"csrf": csrf_of(old_form), "v": "1",
                                                "q.guidance": "不满意", "q.overall": "满意"})  # fmt: skip
        assert old.status_code == 200, old.text[:300]
        new_form = await client.get(new_link)
        assert "候诊时间可以接受吗" in new_form.text and 'name="v" value="2"' in new_form.text
        new = await client.post(new_link, data={"csrf": csrf_of(new_form), "v": "2",
                                                "q.waiting": "dissatisfied", "q.overall": "satisfied"})  # fmt: skip
        assert new.status_code == 200, new.text[:300]

    async def both() -> list[dict[str, Any]] | None:
        events = json_values(await read_all(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.SURVEYS))
        mine = [e["data"] for e in events if e["data"].get("department_code") == department]
        return mine if len(mine) == 2 else None

    answers = {e["questionnaire_version"]: e["answers"] for e in await eventually(both, timeout=30)}
    assert [a["question_id"] for a in answers[1]] == ["guidance", "overall"]
    assert [(a["question_id"], a["aspect"]) for a in answers[2]] == [
        ("overall", "overall"), ("waiting", "registration"),
    ]  # fmt: skip


async def test_the_invitation_after_an_unreachable_call_carries_its_own_link(
    services: dict[str, RunningService], stack_config: Any, stack_env: dict[str, str]
) -> None:
    """It carried the fixed NOTIFICATIONS_SURVEY_URL: an answer there was nobody's."""
    n = uuid.uuid4().int % 10**8
    await unreachable_call(
        stack_env, task_id=f"T-UR{n}", kind="inpatient_discharge", patient_id=f"P-UR{n}",
        department_code="CARD", source_ref=f"A-UR{n}", patient_phone=f"137{n:08d}",
    )  # fmt: skip

    def received() -> list[str] | None:
        texts = [
            t for to, t in sms_received(stack_config, "未能电话联系") if to.endswith(f"{n:08d}")
        ]
        return texts or None

    [text] = await eventually(received, timeout=60)
    link = LINK.search(text)
    assert link is not None, text
    async with httpx.AsyncClient(timeout=10) as client:
        page = await client.get(link.group(1))
    assert page.status_code == 200 and "出院" in page.text  # this discharge's questionnaire


async def unreachable_call(stack_env: dict[str, str], **fields: Any) -> None:
    """Publish follow-up's `followup.task_unreachable` (the last call attempt failed) with
    `fields`: notifications sends its survey invitation with a link of its own."""
    data = FollowUpTaskUnreachable(attempts_made=3, **fields)
    event = make_event(
        "followup.task_unreachable", data, source="urn:test", subject=data.patient_id,
        time=datetime.now(UTC),
    )  # fmt: skip
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.FOLLOWUP_TASKS,
        [(data.patient_id, encode(event))],
    )  # fmt: skip
