"""Every success answer in the OpenAPI documents of the services whose routes all declare
response models is typed (tests/integration/openapi_walk.untyped_2xx): no `object` without
properties, no untyped array, no missing schema. Built from the apps, without the stack."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel

from tests.integration.openapi_walk import untyped_2xx

TYPED = ["registration", "notifications", "metrics"]


@pytest.mark.parametrize("service", TYPED)
def test_every_success_answer_of_the_document_is_typed(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENV", "test")
    app = importlib.import_module(f"{service}.app").create_app()
    assert untyped_2xx(app.openapi()) == []


def test_an_answer_documented_as_a_bare_object_counts_as_untyped() -> None:
    """What FastAPI writes for a route that returns `dict[str, Any]` or `list[dict]`."""
    spec = {
        "components": {"schemas": {"Typed": {"type": "object", "properties": {"id": {}}}}},
        "paths": {
            "/a": {"get": {"responses": {"200": {"content": {"application/json": {
                "schema": {"type": "object", "additionalProperties": True}}}}}}},
            "/b": {"get": {"responses": {"200": {"content": {"application/json": {
                "schema": {"type": "array", "items": {"type": "object"}}}}}}}},
            "/c": {"post": {"responses": {"201": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Typed"}}}}}}},
            "/d": {"delete": {"responses": {"204": {"description": "gone"}}}},
            "/e": {"get": {"responses": {"200": {"description": "no content declared"}}}},
        },
    }  # fmt: skip
    assert untyped_2xx(spec) == [
        "GET /a 200 application/json",
        "GET /b 200 application/json",
        "GET /e 200 -",
    ]


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """The app's routes, those of included routers too (FastAPI keeps them wrapped)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _api_routes(inner.routes)


@pytest.mark.parametrize("service", TYPED)
def test_every_response_models_example_is_an_answer_it_could_give(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The examples a client reads in the document validate against their own models."""
    monkeypatch.setenv("ENV", "test")
    app = importlib.import_module(f"{service}.app").create_app()
    models = {
        r.response_model
        for r in _api_routes(app.routes)
        if isinstance(r.response_model, type) and issubclass(r.response_model, BaseModel)
    }
    checked = 0
    for model in models:
        for example in (model.model_config.get("json_schema_extra") or {}).get("examples", []):  # type: ignore[union-attr]
            model.model_validate(example)
            checked += 1
    assert checked >= 2  # registration: Accepted, PatientVisits


def test_a_large_answer_counts_as_an_echo_only_when_it_repeats_what_was_sent() -> None:
    """The walk flags answers over 20 kB that echo an oversized value; a roster search for
    "-1" answering 500 members on a stack other tests filled is a page, not an echo."""
    from tests.integration.openapi_walk import echoes

    long_value = b"x" * 5000
    assert echoes(b'{"detail": "' + long_value + b'"}', b"/v1/a", b'{"q": "' + long_value + b'"}')
    assert echoes(b"x" * 300, b"/v1/a?q=" + b"x" * 3000)
    page = b'{"items": [' + b'{"staff_id": "S-1", "name": "-1"},' * 2000 + b"]}"
    assert not echoes(page, b"/v1/staff?q=-1", b"")
