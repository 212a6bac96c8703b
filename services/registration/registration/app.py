"""Wiring of the registration service: runtime, consumers, HTTP routes."""

from __future__ import annotations

from pathlib import Path

from hospital_shared.runtime import ServiceRuntime

from registration.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def create_app(settings: Settings | None = None):  # type: ignore[no-untyped-def]
    runtime = ServiceRuntime(settings or Settings(), migrations=MIGRATIONS)
    return runtime.http_app()
