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
# The lists each service answers: each must be a Page. (The category rules, a calendar's
# years and a worklist's three buckets are short by nature and answered whole.)
LISTS = {
    "followup": {"/v1/tasks", "/v1/worklist/available", "/v1/staff", "/v1/access-records"},
    "complaints": {"/v1/cases", "/v1/enquiries", "/v1/feedback", "/v1/access-records"},
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


@pytest.mark.parametrize("service", SERVICES)
def test_every_list_pages_the_same_way(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A list answers a Page (items, next, limit) and takes `limit` (with a maximum) and
    `cursor`; bounded lists that are not paged are named here."""
    spec = spec_of(service, monkeypatch)
    schemas = spec["components"]["schemas"]
    pages = {name for name in schemas if name.startswith("Page_")}
    paged = set()
    for name in pages:
        assert set(schemas[name]["required"]) == {"items", "next", "limit"}, name
    for path, operations in spec["paths"].items():
        op = operations.get("get")
        if op is None or path in RUNTIME:
            continue
        ref = op["responses"]["200"]["content"]["application/json"]["schema"].get("$ref", "")
        if ref.rsplit("/", 1)[-1] in pages:
            paged.add(path)
            query = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
            assert {"limit", "cursor"} <= set(query), path
            assert query["limit"]["schema"]["maximum"] <= 1000, path
    assert paged == LISTS[service]
