"""The survey pages' database in memory: the links (`survey_links`), no saved questionnaire
(the packaged ones are in force) and the outbox's payloads. It answers exactly the statements
survey_store.py and the outbox send, and fails on any other; a transaction that raises leaves
every row as it was, as PostgreSQL's rollback does."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from hospital_shared import http_guard
from notifications.settings import Settings
from notifications.survey_api import SurveyGate, survey_router
from notifications.survey_links import token_for, token_hash

SECRET = "test-survey-secret"


class FakeSurveyDb:
    """A pool and its one connection (`acquire` yields the database itself)."""

    def __init__(self) -> None:
        self.links: dict[bytes, dict[str, Any]] = {}
        self.outbox: list[bytes] = []

    def add_link(self, link_id: str = "l" * 31, kind: str = "outpatient_visit") -> str:
        """An open link of a visit; its token (what the patient's SMS carries)."""
        token = token_for(SECRET, link_id)
        self.links[token_hash(token)] = {
            "link_id": link_id, "patient_id": "P1", "contact_ref": "registration:R1",
            "contact_kind": kind, "department_code": "CARD", "case_cycle": None,
            "answered_at": None, "questionnaire_version": None,
            "expires_at": datetime.now(UTC) + timedelta(days=7),
        }  # fmt: skip
        return token

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeSurveyDb]:
        yield self

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        links, written = copy.deepcopy(self.links), len(self.outbox)
        try:
            yield
        except BaseException:
            self.links, self.outbox = links, self.outbox[:written]
            raise

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        if sql.startswith("SELECT l.*, coalesce(p.deceased, false) AS deceased"):
            found = self.links.get(args[0])
            return {"deceased": False, **found} if found is not None else None
        if sql.startswith("SELECT body FROM questionnaires"):
            return None
        if sql.startswith("UPDATE survey_links SET answered_at = $2"):
            link = self.links.get(args[0])
            if link is None or link["answered_at"] is not None or link["expires_at"] <= args[1]:
                return None
            if link.get("deceased"):
                return None
            link.update(answered_at=args[1], questionnaire_version=args[2])
            return link
        raise AssertionError(f"a statement the fake does not know: {sql}")

    async def execute(self, sql: str, *args: Any) -> str:
        if "INSERT INTO outbox" in sql:
            self.outbox += args[3]
            return "SELECT 1"
        if sql.startswith(("UPDATE survey_links SET reminder_due_at", "UPDATE messages")):
            return "UPDATE 0"
        raise AssertionError(f"a statement the fake does not know: {sql}")


def survey_client(db: FakeSurveyDb, **settings: object) -> TestClient:
    """The survey pages as the service serves them (guarded, failures answered by the
    service's own middleware), on `db`."""
    app = FastAPI()
    app.include_router(survey_router)
    http_guard.install(app)
    config = Settings(survey_secret=SECRET, **settings)  # type: ignore[arg-type]
    app.state.runtime = SimpleNamespace(pool=db, settings=config)
    app.state.survey_gate = SurveyGate(config)
    return TestClient(app, raise_server_exceptions=False)
