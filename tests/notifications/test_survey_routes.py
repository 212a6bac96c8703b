"""The survey page's refusals: malformed tokens, the limit per client address (one phone or
one crawler cannot walk through links), and, on the links of an in-memory database
(survey_fakes.py), answers that cannot be kept."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from hospital_shared import codec
from hospital_shared.logging import configure_logging
from hospital_shared.questionnaires import Refusal
from notifications import survey_api
from notifications.app import create_app
from notifications.settings import Settings
from notifications.survey_api import SurveyGate, survey_router
from notifications.survey_links import token_hash
from tests.notifications.survey_fakes import FakeSurveyDb, survey_client


def client(**settings: object) -> TestClient:
    app = FastAPI()
    app.include_router(survey_router)
    app.state.survey_gate = SurveyGate(Settings(**settings))  # type: ignore[arg-type]
    return TestClient(app)


def test_a_malformed_token_gets_the_unknown_link_page_without_a_trace() -> None:
    page = client().get("/s/not-a-token")
    assert page.status_code == 404
    assert "链接无效" in page.text and "Traceback" not in page.text
    assert page.headers["cache-control"] == "no-store"


def test_one_address_past_its_limit_is_told_to_wait_whatever_the_token() -> None:
    c = client(survey_rate_per_address=3)
    statuses = [c.get(f"/s/bad{i}").status_code for i in range(5)]
    assert statuses == [404, 404, 404, 429, 429]
    assert "操作太频繁" in c.post("/s/bad").text


def test_the_service_documents_the_questionnaire_routes_and_not_the_patients_pages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/openapi.json was a 500 while the questionnaire routes declared their dependency as
    `Annotated[Principal, Depends(local)]` under postponed annotations. The survey page is
    for patients' phones (HTML, refusals too), not an API operation: not in the document."""
    monkeypatch.setenv("ENV", "test")
    app = create_app()
    paths = app.openapi()["paths"]
    assert {"/v1/questionnaires", "/v1/questionnaires/{kind}"} <= set(paths)
    assert "/s/{token}" not in paths


def opened(c: TestClient, token: str) -> str:
    """Open the link's page; the form's CSRF value."""
    page = c.get(f"/s/{token}")
    assert page.status_code == 200, page.text[:300]
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def posted(c: TestClient, token: str, body: str) -> Response:
    """Post `body` as the browser does (already form-encoded, so a test can send any byte)."""
    headers = {"content-type": "application/x-www-form-urlencoded"}
    return c.post(f"/s/{token}", content=body.encode(), headers=headers)


def test_a_comment_the_events_decoder_refuses_is_shown_again_and_nothing_is_written() -> None:
    """`t.comments=hi%00there` got the thanks page and marked the link answered, and every
    consumer's decoder refused the `survey.answered` event (dead-lettered): the answers were
    lost and the link could not be answered again."""
    db = FakeSurveyDb()
    token = db.add_link()
    c = survey_client(db)
    csrf = opened(c, token)
    page = posted(c, token, f"csrf={csrf}&v=1&q.overall=dissatisfied&t.comments=hi%00there")
    assert page.status_code == 422 and "含有无法识别的字符" in page.text
    assert "您还有什么意见或建议" in page.text  # the question named
    assert 'name="q.overall" value="dissatisfied" checked' in page.text  # the answers kept
    assert db.outbox == [] and db.links[token_hash(token)]["answered_at"] is None
    again = posted(c, token, f"csrf={csrf}&v=1&q.overall=dissatisfied&t.comments=hi+there")
    assert again.status_code == 200 and "感谢您的评价" in again.text
    (payload,) = db.outbox
    assert codec.decode(payload).data.answers[1].text == "hi there"


def test_unicode_digits_for_the_version_or_a_score_get_the_surveys_pages_not_a_500() -> None:
    """`"²".isdigit()` is true and `int("²")` raises: `v=²` or `s.overall=²` was a 500, a JSON
    problem naming the token's path, on the patient's phone."""
    db = FakeSurveyDb()
    first, second = db.add_link("a" * 31), db.add_link("b" * 31)
    c = survey_client(db)
    page = posted(c, first, f"csrf={opened(c, first)}&v=%C2%B2&q.overall=satisfied")
    assert page.status_code == 200 and "感谢您的评价" in page.text  # the version in force
    csrf = opened(c, second)
    for score in ("%C2%B2", "%D9%A3", "9" * 5000):  # ², Arabic-Indic 3, past int()'s digits
        page = posted(c, second, f"csrf={csrf}&v=1&q.overall=satisfied&s.overall={score}")
        assert page.status_code == 422 and "评分应为1到5分" in page.text
        assert page.headers["cache-control"] == "no-store"
    assert len(db.outbox) == 1


async def test_a_content_length_of_unicode_digits_is_read_as_none_given() -> None:
    """Uvicorn refuses such a header itself; the route does not count on it."""
    db = FakeSurveyDb()
    token = db.add_link()
    app = survey_client(db).app
    body, sent = [{"type": "http.request", "body": b"v=1"}], []
    scope = {
        "type": "http", "method": "POST", "path": f"/s/{token}", "query_string": b"",
        "headers": [(b"content-type", b"application/x-www-form-urlencoded"),
                    (b"content-length", "²".encode("latin-1"))],
        "client": ("10.0.0.1", 5000), "server": ("testserver", 80), "scheme": "http",
    }  # fmt: skip

    async def receive() -> dict[str, object]:
        return body.pop() if body else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app(scope, receive, send)  # type: ignore[arg-type]
    start = sent[0]
    assert start["status"] == 403  # no cookie: the stale form's page, not a 500
    assert (b"content-type", b"text/html; charset=utf-8") in start["headers"]  # type: ignore[operator]


def test_a_token_the_guard_refuses_gets_the_unknown_links_page_not_a_problem() -> None:
    page = client().get("/s/abc%00def")
    assert page.status_code == 404 and "链接无效" in page.text
    assert page.headers["cache-control"] == "no-store" and "abc" not in page.text


def test_a_failure_is_the_unavailable_page_and_its_log_names_neither_token_nor_answer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_logging(service="test")
    monkeypatch.setattr(survey_api, "log", structlog.get_logger("notifications.survey_api"))
    db = FakeSurveyDb()
    token = db.add_link()
    c = survey_client(db)
    csrf = opened(c, token)

    def broken(fields: dict[str, str]) -> None:
        raise RuntimeError(f"cannot read {fields} of {token}")  # a message holding both

    monkeypatch.setattr(survey_api, "given_answers", broken)
    page = posted(c, token, f"csrf={csrf}&v=1&q.overall=dissatisfied&t.comments=SECRET")
    assert page.status_code == 503 and "服务暂时不可用" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["content-type"].startswith("text/html") and token not in page.text
    err = capsys.readouterr().err
    assert "survey page failed: POST /s/{token}" in err and "RuntimeError" in err
    assert token not in err and "SECRET" not in err
    assert db.outbox == [] and db.links[token_hash(token)]["answered_at"] is None
    structlog.reset_defaults()


def test_a_link_opened_twice_and_another_link_in_a_third_tab_each_take_their_form() -> None:
    """Every load set a new nonce in the one cookie all links share: the first tab's form
    (or an SMS link opened again) was refused as a stale page, its answers lost."""
    db = FakeSurveyDb()
    first, second = db.add_link("a" * 31), db.add_link("b" * 31)
    c = survey_client(db)
    early, again, other = opened(c, first), opened(c, first), opened(c, second)
    assert again == early
    page = posted(c, first, f"csrf={early}&v=1&q.overall=satisfied")
    assert page.status_code == 200 and "感谢您的评价" in page.text
    assert posted(c, second, f"csrf={other}&v=1&q.overall=satisfied").status_code == 200
    assert len(db.outbox) == 2


def test_a_form_without_its_cookie_or_with_another_value_is_still_refused() -> None:
    db = FakeSurveyDb()
    token = db.add_link()
    c = survey_client(db)
    csrf = opened(c, token)
    stranger = survey_client(db)  # another site's page posting the form: no cookie sent
    for who, value in ((stranger, csrf), (c, "0" * 32), (c, ""), (c, "é")):  # é: was a 500
        page = posted(who, token, f"csrf={value}&v=1&q.overall=satisfied")
        assert page.status_code == 403 and "页面已失效" in page.text
        assert "感谢您的评价" not in page.text
    c.cookies.set("survey_nonce", "not-one-we-made", domain="testserver.local", path="/s/")
    opened(c, token)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", c.cookies["survey_nonce"])
    assert db.outbox == []


def test_a_form_left_open_past_its_cookie_comes_back_with_its_answers_and_a_fresh_check() -> None:
    """The nonce's cookie lasted 3600 s: a form left open an hour was refused with
    "页面已失效", every answer gone. Now the form comes back with the answers and a fresh
    check, records nothing, and the patient's next press of 提交 is taken once."""
    db = FakeSurveyDb()
    token = db.add_link()
    c = survey_client(db)
    first = c.get(f"/s/{token}")
    assert "max-age=604800" in first.headers["set-cookie"].lower()  # as long as a link answers
    stale = re.search(r'name="csrf" value="([^"]+)"', first.text)
    assert stale is not None
    c.cookies.clear()  # the cookie ran out while the page stayed open
    answers = "v=1&q.registration=dissatisfied&q.overall=fairly_satisfied&s.overall=4"
    page = posted(c, token, f"csrf={stale.group(1)}&{answers}&t.comments=%E5%A4%AA%E6%85%A2")
    assert page.status_code == 403 and "页面已失效" in page.text and "已为您保留" in page.text
    assert 'name="q.registration" value="dissatisfied" checked' in page.text
    assert 'name="q.overall" value="fairly_satisfied" checked' in page.text
    assert '<option value="4" selected>' in page.text and ">太慢</textarea>" in page.text
    assert db.outbox == [] and db.links[token_hash(token)]["answered_at"] is None
    fresh = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert fresh is not None and re.fullmatch(r"[A-Za-z0-9_-]{22}", c.cookies["survey_nonce"])
    done = posted(c, token, f"csrf={fresh.group(1)}&{answers}")
    assert done.status_code == 200 and "感谢您的评价" in done.text
    assert len(db.outbox) == 1
    again = posted(c, token, f"csrf={stale.group(1)}&{answers}")  # the stale form once more
    assert again.status_code == 410 and "已经提交过了" in again.text and len(db.outbox) == 1


def test_a_stale_form_of_an_expired_link_gets_the_expired_page_not_the_form() -> None:
    db = FakeSurveyDb()
    token = db.add_link()
    db.links[token_hash(token)]["expires_at"] = datetime.now(UTC) - timedelta(seconds=1)
    page = posted(survey_client(db), token, "csrf=x&v=1&q.overall=satisfied")
    assert page.status_code == 410 and "链接已过期" in page.text and 'name="csrf"' not in page.text


def test_a_missing_answer_is_marked_at_its_question_and_the_score_has_a_label() -> None:
    """The score's drop-down had no label (`评分（5分最好）：<select name="s.overall">`) and a
    missing answer was said only at the top of the page, far from its question on a phone."""
    db = FakeSurveyDb()
    token = db.add_link()
    c = survey_client(db)
    csrf = opened(c, token)
    assert (
        '<label for="s-overall">评分（5分最好）：</label><select id="s-overall"'
        in c.get(f"/s/{token}").text
    )
    page = posted(c, token, f"csrf={csrf}&v=1&q.registration=satisfied")
    assert page.status_code == 422
    assert '<p class="err" role="alert">“您对本次就医总体是否满意？”：请选择一项</p>' in page.text
    overall = page.text[page.text.index('<legend id="l-overall">') :].split("</fieldset>")[0]
    assert '<p class="q-err" id="e-overall">请选择一项</p>' in overall
    assert overall.count('aria-invalid="true" aria-describedby="e-overall"') == 4  # 3 + score
    assert page.text.count("aria-describedby") == 4  # only the question to fix is marked
    assert 'name="q.registration" value="satisfied" checked' in page.text


def test_an_answer_off_the_scale_says_which_choices_there_are_in_chinese() -> None:
    """`q.overall=great` got "请检查后重新提交": the page looked its Chinese up by the English
    message, which was respelt when the scale became satisfied/fairly_satisfied/dissatisfied.
    It is keyed on the refusal's kind now, every kind with its wording."""
    assert set(survey_api._CHINESE) == set(Refusal)
    db = FakeSurveyDb()
    token = db.add_link()
    c = survey_client(db)
    page = posted(c, token, f"csrf={opened(c, token)}&v=1&q.overall=great")
    assert page.status_code == 422
    assert "“您对本次就医总体是否满意？”：请选择满意、基本满意或不满意" in page.text
    assert db.outbox == []


def test_the_link_of_a_patient_reported_deceased_is_closed_as_an_expired_one() -> None:
    """The link kept taking answers after the patient's death was reported, and an unhappy
    one planned a second call to the family's phone. The expired link's page, nothing kept."""
    db = FakeSurveyDb()
    token = db.add_link()
    c = survey_client(db)
    csrf = opened(c, token)
    db.links[token_hash(token)]["deceased"] = True
    for page in (c.get(f"/s/{token}"), posted(c, token, f"csrf={csrf}&v=1&q.overall=dissatisfied")):
        assert page.status_code == 410 and "链接已过期" in page.text
        assert 'name="csrf"' not in page.text
    assert db.outbox == [] and db.links[token_hash(token)]["answered_at"] is None


def test_every_other_address_and_method_under_s_gets_the_unknown_links_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`/s`, `/s/`, `/s/<token>/x`, `/s//<token>` answered the API's 404 problem+json, and a
    method but GET and POST its 405, on a patient's phone: the service's own routing and error
    handlers (create_app) now give the unknown link's page to every one of them."""
    monkeypatch.setenv("ENV", "test")
    c = TestClient(create_app(), follow_redirects=False)
    token = "A" * 32
    asked = [("GET", "/s"), ("GET", "/s/"), ("POST", "/s/"), ("GET", f"/s/{token}/x"),
             ("POST", f"/s/{token}/x"), ("GET", f"/s//{token}"), ("PUT", f"/s/{token}"),
             ("DELETE", f"/s/{token}"), ("OPTIONS", f"/s/{token}"), ("HEAD", "/s/a/b")]  # fmt: skip
    for method, path in asked:
        page = c.request(method, path)
        assert page.status_code == 404, (method, path, page.text[:200])
        assert page.headers["content-type"].startswith("text/html"), (method, path)
        assert page.headers["cache-control"] == "no-store"
        assert method == "HEAD" or "链接无效" in page.text


def test_a_link_answers_head_as_it_answers_get() -> None:
    db = FakeSurveyDb()
    token = db.add_link()
    c = survey_client(db)
    head = c.head(f"/s/{token}")
    assert head.status_code == 200 and head.headers["content-type"].startswith("text/html")
    assert c.head(f"/s/{token[:-1]}").status_code == 404


def kept_fields(page: Response) -> dict[str, str]:
    """The hidden fields of the page's form: what pressing its button posts again."""
    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
    return {name: html.unescape(value) for name, value in found}


def test_answers_refused_for_too_many_requests_are_kept_to_be_sent_again_later() -> None:
    """A 429 after pressing 提交 lost every answer (only the CSRF refusal kept them): the
    page now holds them in a form whose button sends them again, once the patient waits."""
    db = FakeSurveyDb()
    token = db.add_link()
    c = survey_client(db, survey_rate_per_token=2)
    csrf = opened(c, token)  # the first request on the link
    body = f"csrf={csrf}&v=1&q.overall=dissatisfied&s.overall=2&t.comments=%E5%A4%AA%E6%85%A2%0A%22x%22&junk=1"
    c.get(f"/s/{token}")  # a second tab: the link's limit reached
    page = posted(c, token, body)
    assert page.status_code == 429 and "操作太频繁" in page.text and "已为您保留" in page.text
    kept = kept_fields(page)
    assert kept == {"csrf": csrf, "v": "1", "q.overall": "dissatisfied", "s.overall": "2",
                    "t.comments": '太慢\n"x"'}  # fmt: skip
    assert f'<form method="post" action="/s/{token}">' in page.text and "再次提交" in page.text
    assert db.outbox == []
    gate = c.app.state.survey_gate  # type: ignore[attr-defined]
    gate.by_token = type(gate.by_token)(2, 600)  # the window passed
    again = c.post(f"/s/{token}", data=kept)
    assert again.status_code == 200 and "感谢您的评价" in again.text
    (payload,) = db.outbox
    assert codec.decode(payload).data.answers[-1].text == '太慢\n"x"'


class AwayDb(FakeSurveyDb):
    """The database gone after the form was opened."""

    away = False

    async def fetchrow(self, sql: str, *args: object) -> dict[str, object] | None:
        if self.away:
            raise OSError("connection refused")
        return await super().fetchrow(sql, *args)


def test_answers_refused_while_the_database_is_away_are_kept_to_be_sent_again() -> None:
    db = AwayDb()
    token = db.add_link()
    c = survey_client(db)
    csrf = opened(c, token)
    db.away = True
    page = posted(c, token, f"csrf={csrf}&v=1&q.overall=fairly_satisfied")
    assert page.status_code == 503 and "服务暂时不可用" in page.text and "再次提交" in page.text
    db.away = False
    again = c.post(f"/s/{token}", data=kept_fields(page))
    assert again.status_code == 200 and len(db.outbox) == 1
    assert "再次提交" not in c.get("/s/" + "A" * 32).text  # a GET has nothing to keep
