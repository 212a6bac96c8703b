"""Each service serves its own Swagger UI, from the pinned package, with nothing from a CDN,
and its OpenAPI document has a description and the platform's release as its version (the
apps are built, not started: no stack)."""

from __future__ import annotations

import importlib
import re

import pytest
from fastapi.testclient import TestClient

from hospital_shared.release import RELEASE

SERVICES = ["registration", "followup", "complaints", "notifications", "metrics"]


@pytest.mark.parametrize("service", SERVICES)
def test_swagger_ui_and_its_assets_come_from_the_service(service: str) -> None:
    app = importlib.import_module(f"{service}.app").create_app()
    client = TestClient(app)  # not entered: the lifespan (database, Kafka) does not run
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert urls and all(u.startswith("/") for u in urls), urls  # nothing from another host
    for url in urls:
        assert client.get(url).status_code == 200, url
    assert client.get("/redoc").status_code == 404
    info = client.get("/openapi.json").json()["info"]
    assert info["version"] == RELEASE  # one release for every service (tests/test_release.py)
    assert "application/problem+json" in info["description"]
    assert "/docs" not in client.get("/openapi.json").json()["paths"]
