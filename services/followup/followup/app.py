"""Wiring of the follow-up service: runtime, consumers, HTTP routes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from followup.handlers import on_discharge_event
from followup.settings import Settings
from hospital_shared import topics
from hospital_shared.runtime import ServiceRuntime

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = ServiceRuntime(settings or Settings(), migrations=MIGRATIONS)
    runtime.consume(topics.DISCHARGES, handler_name="discharges", handle=on_discharge_event)
    return runtime.http_app()
