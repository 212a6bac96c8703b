"""The survey page's refusals that need no database: malformed tokens, and the limit per
client address (one phone or one crawler cannot walk through links)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from notifications.app import create_app
from notifications.settings import Settings
from notifications.survey_api import SurveyGate, survey_router


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
