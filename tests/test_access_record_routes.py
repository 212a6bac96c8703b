"""Every route of every service is either one that writes access records for the patient data
it answers with (`tests/access_routes.AUDITED`, bound to the request by
`access_records.BIND_REQUEST`) or one listed, with why, as answering with none."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from hospital_shared.access_records import bind_request
from hospital_shared.http_guard import _api_routes
from tests.access_routes import AUDITED, NO_PATIENT_DATA

SERVICES = ("followup", "complaints", "notifications", "registration", "metrics")


def _binds(dependant: Dependant) -> bool:
    return any(d.call is bind_request or _binds(d) for d in dependant.dependencies)


def _service_routes(service: str) -> Iterator[tuple[str, str, APIRoute]]:
    app = importlib.import_module(f"{service}.app").create_app()
    for route in _api_routes(app.routes):
        for method in sorted(route.methods - {"HEAD"}):
            # as documented: `{staff_id:path}` (an id that may hold `/`) is `{staff_id}`
            yield method, route.path_format, route


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_is_audited_or_listed_as_answering_without_patient_data(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENV", "test")
    unclassified, unbound = [], []
    for method, path, route in _service_routes(service):
        if (service, method, path) in AUDITED:
            if not _binds(route.dependant):
                unbound.append(f"{method} {path}")
        elif (method, path) not in NO_PATIENT_DATA:
            unclassified.append(f"{method} {path}")
    assert unclassified == [], "classify these in tests/access_routes.py"
    assert unbound == [], "these answer with patient data but do not bind the request"


def test_every_audited_route_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "test")
    found = {(s, m, p) for s in SERVICES for m, p, _ in _service_routes(s)}
    assert set(AUDITED) - found == set()
