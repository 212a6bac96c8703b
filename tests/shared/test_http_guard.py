"""The shared request guard on a small app (no stack): what it refuses, how it answers, and
what it logs when a route fails anyway. Every service's routes are tested on the real
processes in tests/integration/test_api_input.py."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import asyncpg
import pytest
import structlog
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from hospital_shared import http_guard
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.logging import configure_logging


class Note(BaseModel):
    text: str
    count: int = 0
    day: date | None = None


def app_with(router: APIRouter, **options: Any) -> TestClient:
    app = FastAPI(**options)
    app.include_router(router)
    http_guard.install(app)
    return TestClient(app, raise_server_exceptions=False)


def test_values_nothing_can_store_are_422s_naming_the_field() -> None:
    router = APIRouter(route_class=GuardedRoute)

    @router.post("/notes/{n}")
    async def add(n: int, note: Note, tag: str = "") -> dict[str, str]:
        return {"ok": "yes"}

    client = app_with(router)
    cases = {
        ("/notes/1?tag=a%00", json.dumps({"text": "t"})): ["query", "tag"],
        (f"/notes/{2**63}", json.dumps({"text": "t"})): ["path", "n"],
        ("/notes/1", json.dumps({"text": "a\x00"})): ["body", "text"],
        ("/notes/1", json.dumps({"text": "t", "count": -(2**63) - 1})): ["body", "count"],
        ("/notes/1", json.dumps({"text": "t", "day": "9999-12-31"})): ["body", "day"],
    }
    for (path, body), loc in cases.items():
        resp = client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert resp.status_code == 422, (path, body)
        assert [e["location"] for e in resp.json()["errors"]] == [loc]
    assert client.post("/notes/1", json={"text": "好", "day": "2026-12-05"}).status_code == 200


def test_a_plain_function_route_is_guarded_too() -> None:
    router = APIRouter(route_class=GuardedRoute)

    @router.get("/sync")
    def sync(tag: str) -> dict[str, str]:
        return {"tag": tag}

    client = app_with(router)
    assert client.get("/sync?tag=ok").json() == {"tag": "ok"}
    assert client.get("/sync?tag=%00").status_code == 422


def test_a_422_is_bounded_and_never_carries_the_input() -> None:
    errors = [
        {"loc": ["body", "x" * 10_000], "msg": "m" * 10_000, "type": "t", "input": "SECRET"}
    ] * 500
    body = http_guard.unprocessable(errors).body
    assert b"SECRET" not in body
    assert len(body) < 30_000
    assert json.loads(body)["errors"][-1]["message"] == "and 450 more errors"


def test_a_failing_route_logs_no_request_text(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(service="test")
    router = APIRouter(route_class=GuardedRoute)

    @router.post("/fail")
    async def fail(note: Note) -> None:
        Note.model_validate({"text": note.text, "count": "not " + note.text})

    resp = app_with(router).post("/fail", json={"text": "SECRET-COMPLAINT"})
    assert resp.status_code == 500
    err = capsys.readouterr().err
    assert "request failed" in err and "ValidationError" in err
    assert "SECRET-COMPLAINT" not in err
    structlog.reset_defaults()


def test_a_router_without_the_guard_stops_the_service_at_start() -> None:
    router = APIRouter()

    @router.get("/open")
    async def open_() -> None:
        return None

    app = FastAPI()
    app.include_router(router)
    with pytest.raises(TypeError, match="/open"):
        http_guard.install(app)


def fresh_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """Logging configured for this test: the guard's module logger is cached on first use,
    with the stderr (and repeat limiter) of the test that used it first."""
    configure_logging(service="test")
    monkeypatch.setattr(http_guard, "log", structlog.get_logger("hospital_shared.http_guard"))


def test_a_database_error_is_logged_by_its_place_not_its_text(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # asyncpg's message carries the failing row ("DETAIL: Failing row contains (...)").
    fresh_logging(monkeypatch)
    router = APIRouter(route_class=GuardedRoute)

    @router.post("/fail")
    async def fail(note: Note) -> None:
        fields = {"M": 'null value in column "day"', "C": "23502", "t": "notes", "c": "day"}
        raise asyncpg.NotNullViolationError.new(
            fields | {"D": f"Failing row contains (1, {note.text})"}
        )

    resp = app_with(router).post("/fail", json={"text": "SECRET"})
    assert resp.status_code == 500
    err = capsys.readouterr().err
    assert "NotNullViolationError" in err and "column_name=day" in err
    assert "SECRET" not in err
    structlog.reset_defaults()


def test_each_failing_route_is_logged_though_another_keeps_failing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The repeat limiter keys on the line's text: one text for every route hid the second.
    fresh_logging(monkeypatch)
    router = APIRouter(route_class=GuardedRoute)

    async def failing() -> None:
        raise RuntimeError("failed")

    for path in ("/first", "/second"):
        router.add_api_route(path, failing)

    client = app_with(router)
    assert [client.get(p).status_code for p in ("/first", "/first", "/second")] == [500] * 3
    err = capsys.readouterr().err
    assert '"route": "/first"' in err and '"route": "/second"' in err
    structlog.reset_defaults()


def test_a_body_past_the_limit_is_a_413_and_no_error_in_the_log(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The limit's signal passed through SafeErrors, which logged every such 413 as a failed
    # request, with its traceback.
    async def accept(note: Note) -> None:
        return None

    fresh_logging(monkeypatch)
    router = APIRouter(route_class=GuardedRoute)
    router.add_api_route("/notes", accept, methods=["POST"])
    resp = app_with(router, max_body_size=100).post("/notes", json={"text": "x" * 1000})
    assert resp.status_code == 413
    assert "request failed" not in capsys.readouterr().err
    structlog.reset_defaults()
