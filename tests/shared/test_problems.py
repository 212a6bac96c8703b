"""Every error in one shape (RFC 9457 problem+json), on a small app with the shared guard and
auth (no stack). Every service's live API is walked in tests/integration/test_problem_details.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient
from pydantic import BaseModel

from hospital_shared import http_guard
from hospital_shared.auth import DEV_TOKENS, Role, TokenAuth
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.problems import MEDIA_TYPE, TRANSITION_REFUSED, VALIDATION


class Note(BaseModel):
    text: str


def client() -> TestClient:
    auth = TokenAuth(dict(DEV_TOKENS))
    router = APIRouter(route_class=GuardedRoute)

    @router.post("/notes/{n}", dependencies=[Depends(auth.require(Role.AGENT))])
    async def add(n: int, note: Note) -> dict[str, str]:
        if n == 404:
            raise HTTPException(404, "no such note")
        if n == 409:
            raise HTTPException(
                409,
                detail={
                    "message": "cannot close a new case",
                    "current_status": "new",
                    "requested": "closed",
                    "allowed_next": ["assigned"],
                },
            )
        if n == 500:
            raise RuntimeError("Traceback-looking secret 13800138000")
        return {"ok": "yes"}

    app = FastAPI(max_body_size=1000)
    app.include_router(router)
    http_guard.install(app)
    return TestClient(app, raise_server_exceptions=False)


AGENT = {"Authorization": "Bearer dev-agent-token"}


def assert_problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == MEDIA_TYPE
    body: dict[str, Any] = resp.json()
    assert body["status"] == status
    assert {"type", "title", "status"} <= set(body)
    assert "Traceback" not in resp.text and ".py" not in resp.text
    return body


def test_an_unknown_token_and_a_wrong_role_are_problems() -> None:
    c = client()
    missing = assert_problem(c.post("/notes/1", json={"text": "t"}), 401)
    assert missing["detail"] == "missing bearer token"
    assert missing["instance"] == "/notes/1"
    wrong = c.post("/notes/1", json={"text": "t"}, headers={"Authorization": "Bearer x"})
    assert assert_problem(wrong, 401)["title"] == "Unauthorized"
    assert wrong.headers["www-authenticate"] == "Bearer"
    doctor = {"Authorization": "Bearer dev-doctor-token"}
    assert (
        "agent"
        in assert_problem(c.post("/notes/1", json={"text": "t"}, headers=doctor), 403)["detail"]
    )


def test_a_missing_record_and_an_unknown_route_are_404_problems() -> None:
    c = client()
    body = assert_problem(c.post("/notes/404", json={"text": "t"}, headers=AGENT), 404)
    assert body == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "no such note",
        "instance": "/notes/404",
    }
    assert_problem(c.get("/nowhere"), 404)
    assert_problem(c.get("/notes/1"), 405)


def test_a_refused_transition_names_the_allowed_next_steps() -> None:
    body = assert_problem(client().post("/notes/409", json={"text": "t"}, headers=AGENT), 409)
    assert body["type"] == TRANSITION_REFUSED
    assert body["detail"] == "cannot close a new case"
    assert body["allowed_next"] == ["assigned"]
    assert body["current_status"] == "new" and body["requested"] == "closed"


def test_bad_fields_are_a_422_listing_each_location_and_message() -> None:
    resp = client().post("/notes/x", json={"txt": "t"}, headers=AGENT)
    body = assert_problem(resp, 422)
    assert body["type"] == VALIDATION
    assert {tuple(e["location"]) for e in body["errors"]} == {("path", "n"), ("body", "text")}
    assert all(e["message"] and e["type"] for e in body["errors"])


def test_a_body_past_the_limit_and_a_failure_are_problems_without_a_trace() -> None:
    c = client()
    assert_problem(c.post("/notes/1", content=b"x" * 2000, headers=AGENT), 413)
    failed = assert_problem(c.post("/notes/500", json={"text": "t"}, headers=AGENT), 500)
    assert failed["detail"] == "internal error"
    assert "13800138000" not in str(failed)


def test_the_openapi_document_says_every_error_is_a_problem() -> None:
    spec = client().get("/openapi.json").json()
    responses = spec["paths"]["/notes/{n}"]["post"]["responses"]
    assert {"401", "403", "404", "422"} <= set(responses)
    for code in ("401", "403", "404", "422"):
        assert list(responses[code]["content"]) == [MEDIA_TYPE]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert "errors" in spec["components"]["schemas"]["Problem"]["properties"]
