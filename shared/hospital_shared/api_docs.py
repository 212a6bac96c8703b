"""Each service's API documentation, served by the service itself: Swagger UI at `/docs`,
its assets from a pinned PyPI package (`swagger-ui-bundle-v2`, Swagger UI 5.31, which reads
the OpenAPI 3.1 documents FastAPI writes) under `/docs/assets`, nothing from a CDN (a hospital
network often has no way out, and a CDN would see which staff read which API). ReDoc, which
FastAPI loads from a CDN, is off.

`info.version` is the platform's release (hospital_shared.release), the same for every service; `info.description`
says what every route has in common (bearer tokens, problem+json errors, the event bindings).
"""

from __future__ import annotations

import importlib.metadata

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS = "/docs"
ASSETS = "/docs/assets"

COMMON = """
Every route but `/healthz`, `/readyz`, `/metrics` and the documents takes a bearer token
(`Authorization: Bearer ...`) whose role the route names; 401 without one, 403 for a role the
route does not take.

Every error is an RFC 9457 problem (`application/problem+json`): `type`, `title`, `status`,
`detail`, `instance`; a 422 adds `errors` (each field's `location`, `message`, `type`), a
refused step adds `allowed_next`. Events: CloudEvents 1.0 (AsyncAPI at `/asyncapi.json`).
"""


def description_of(service: str) -> str:
    try:
        summary = importlib.metadata.metadata(service)["Summary"] or ""
    except importlib.metadata.PackageNotFoundError:
        summary = ""
    return (summary.strip() + "\n" + COMMON).strip()


def install(app: FastAPI) -> None:
    """Swagger UI at `/docs` (not in the OpenAPI document), its assets under `/docs/assets`."""
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_path), name="swagger-ui-assets")

    async def swagger_ui(_: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title}: API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )

    app.add_route(DOCS, swagger_ui, include_in_schema=False)
