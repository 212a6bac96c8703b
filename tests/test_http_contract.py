"""The HTTP contract of the services that follow issue 18's style (follow-up, complaints):
every 2xx answer typed in the OpenAPI document, with an example, and the refusals a client
acts on documented as problems. No stack: the documents are built from the apps themselves.
Other services join `SERVICES` as their routes are typed."""

from __future__ import annotations

from typing import Any

import pytest

from hospital_shared.problems import MEDIA_TYPE
from tests.integration.openapi_walk import untyped_responses

SERVICES = ["followup", "complaints"]
# The runtime's own routes that answer no JSON document (hospital_shared.runtime, health):
# shared by every service, not the service's. (`/v1/access-records` and `/v1/me`, also the
# runtime's, answer typed JSON and are checked with the service's routes.)
RUNTIME = {"/healthz", "/readyz", "/metrics", "/asyncapi.json"}
_SPECS: dict[str, dict[str, Any]] = {}
# Every service that answers JSON: each list of each is a Page (the console answers HTML).
JSON_SERVICES = ["followup", "complaints", "registration", "notifications", "metrics"]
# Answers holding an array that are answered whole, and why: each is one record's parts or
# bounded by nature. Any other GET whose answer is (or holds) an array must be a Page, so a new
# list answered whole fails here until it is paged or named with its reason.
WHOLE = {
    "/v1/access-records/unusual": "the readers above the threshold in one window: a few staff",
    "/v1/templates/{name}": "one template: the names its sender fills (a few)",
    "/v1/tasks/{task_id}": "one task's roles, next calls and attempts",
    "/v1/worklist": "a member's three buckets, each capped by the worklist's own limit",
    "/v1/departments/{code}/overview": "one department's staff and its oldest open calls",
    "/v1/cases/{number}/audit": "one case's history",
    "/v1/cases/{number}/accountability": "one case's accountability record",
    "/v1/case-workload": "one department's handlers",
    "/v1/category-rules": "the category rules: a dozen by nature",
    "/v1/categories": "the categories of three kinds: tens by nature",
    "/v1/staff-directory": "a picker's choices: at most `limit` (500) active members",
    "/v1/calendar/years": "the calendar years held: a handful",
    "/v1/calendar/years/{year}": "one year's holidays and working weekends",
    "/v1/staff/{staff_id}/channels": "one member's channels",
    "/v1/kpi": "the KPI definitions (a dozen) and the caller's staff figures of one period",
    "/v1/kpi/departments": "the hospital's departments: tens",
    "/v1/departments": "the department directory: tens, all of which a screen names at once",
    "/v1/kpi/staff": "the staff figures of one department and period",
}


def spec_of(service: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The service's OpenAPI document (built once per run)."""
    if service not in _SPECS:
        monkeypatch.setenv("ENV", "test")
        module = __import__(f"{service}.app", fromlist=["create_app"])
        _SPECS[service] = module.create_app().openapi()
    return _SPECS[service]


@pytest.mark.parametrize("service", SERVICES)
def test_every_2xx_is_typed_and_has_an_example(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert untyped_responses(spec_of(service, monkeypatch), RUNTIME) == []


@pytest.mark.parametrize("service", SERVICES)
def test_refusals_are_documented_as_problems(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """401 and 403 where a token is needed, 404 where a path names a record, 422 where input
    is read, 409 on every step a record's state may refuse; each a problem+json."""
    spec = spec_of(service, monkeypatch)
    missing = []
    for path, operations in spec["paths"].items():
        if path in RUNTIME:
            continue
        for method, op in operations.items():
            wanted = {"401", "403"} if op.get("security") else set()
            params = op.get("parameters", [])
            if any(p["in"] == "path" for p in params):
                wanted |= {"404"}
            if params or "requestBody" in op:
                wanted |= {"422"}
            if method == "post" and "{" in path:
                wanted |= {"409"}  # a step on a record
            responses = op["responses"]
            missing += [f"{method.upper()} {path} {c}" for c in sorted(wanted - set(responses))]
            missing += [
                f"{method.upper()} {path} {c}: not a problem"
                for c, r in responses.items()
                if c[0] in "45" and MEDIA_TYPE not in r.get("content", {})
            ]
    assert missing == []


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _is_array(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    schema = _resolve(spec, schema)
    options = [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]
    return any(_resolve(spec, o).get("type") == "array" for o in options)


def _is_page(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    """A Page (hospital_shared.http_api), or a model extending one with its context (the
    patient a page of visits is of): `items` an array, `next` and `limit` required."""
    schema = _resolve(spec, schema)
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    return {"items", "next", "limit"} <= required and _is_array(spec, properties.get("items", {}))


def paging_faults(spec: dict[str, Any], whole: dict[str, str]) -> list[str]:
    """Every GET whose answer is an array or holds one and is neither a Page nor named in
    `whole`, and every Page that does not take `cursor` and a `limit` with a maximum."""
    faults = []
    for path, operations in spec["paths"].items():
        op = operations.get("get")
        answer = (op or {}).get("responses", {}).get("200", {}).get("content", {})
        if path in RUNTIME or "application/json" not in answer:
            continue
        schema = answer["application/json"]["schema"]
        if _is_page(spec, schema):
            query = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
            if not {"limit", "cursor"} <= set(query):
                faults.append(f"{path}: a page without limit and cursor")
            elif query["limit"]["schema"].get("maximum", 10**9) > 1000:
                faults.append(f"{path}: a limit without a maximum of at most 1000")
        elif path not in whole and (
            _is_array(spec, schema)
            or any(
                _is_array(spec, p) for p in _resolve(spec, schema).get("properties", {}).values()
            )
        ):
            faults.append(f"{path}: a list that is not a page")
    return faults


@pytest.mark.parametrize("service", JSON_SERVICES)
def test_every_list_pages_the_same_way(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A list answers a Page (items, next, limit) and takes `limit` (with a maximum) and
    `cursor`; the answers holding an array that are not lists are named in WHOLE."""
    spec = spec_of(service, monkeypatch)
    assert paging_faults(spec, WHOLE) == []
    assert _is_page(spec, _answer(spec, "/v1/access-records"))  # the check sees pages


def _answer(spec: dict[str, Any], path: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec["paths"][path]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    return schema


def test_a_list_answered_whole_or_a_page_without_a_limit_is_a_fault() -> None:
    """The two ways the visits and the unsettled SMS escaped before: a list inside a report
    (`{"visits": [...]}`), and a bare array; and a page that takes no cursor."""
    page = {
        "type": "object",
        "required": ["items", "next", "limit"],
        "properties": {"items": {"type": "array"}, "next": {}, "limit": {}},
    }
    json_of = lambda schema: {"200": {"content": {"application/json": {"schema": schema}}}}  # noqa: E731
    spec = {
        "components": {"schemas": {"Page_X_": page, "Report": {
            "type": "object", "properties": {"count": {"type": "integer"},
                                             "rows": {"anyOf": [{"type": "array"}, {"type": "null"}]}}}}},
        "paths": {
            "/report": {"get": {"responses": json_of({"$ref": "#/components/schemas/Report"})}},
            "/bare": {"get": {"responses": json_of({"type": "array", "items": {}})}},
            "/paged": {"get": {"responses": json_of({"$ref": "#/components/schemas/Page_X_"}),
                               "parameters": [{"in": "query", "name": "limit", "schema": {}}]}},
            "/rules": {"get": {"responses": json_of({"type": "array", "items": {}})}},
            "/one": {"get": {"responses": json_of({"type": "object", "properties": {"a": {}}})}},
        },
    }  # fmt: skip
    assert paging_faults(spec, {"/rules": "bounded"}) == [
        "/report: a list that is not a page",
        "/bare: a list that is not a page",
        "/paged: a page without limit and cursor",
    ]
