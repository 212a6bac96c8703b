"""The survey page's refusals: malformed tokens, the limit per client address (one phone or
one crawler cannot walk through links), and, on the links of an in-memory database
(survey_fakes.py), answers that cannot be kept."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from hospital_shared import codec
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
