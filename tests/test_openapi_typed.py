"""Every success answer in the OpenAPI documents of the services whose routes all declare
response models is typed (tests/integration/openapi_walk.untyped_2xx): no `object` without
properties, no untyped array, no missing schema. Built from the apps, without the stack."""

from __future__ import annotations

import importlib

import pytest

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
