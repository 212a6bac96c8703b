"""Every service's live API answers every error as an RFC 9457 problem (hospital_shared.problems),
and no error carries a trace. For each operation of each OpenAPI document: its example request
without a token, with each development token, and with a body of the wrong type; then the
refusals a client acts on, each on purpose (an unknown route, a record that does not exist, a
refused case transition with its allowed next steps).

Here with the fuzzing, last in the run: the example requests write (staff, rules, templates)
and every service runs, the follow-up service's development roster included."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hospital_shared.auth import DEV_TOKENS
from hospital_shared.problems import MEDIA_TYPE, TRANSITION_REFUSED, VALIDATION
from tests.fuzz import SERVICES
from tests.integration.openapi_walk import example
from tests.integration.services import RunningService

SKIPPED = {"/healthz", "/readyz", "/metrics", "/asyncapi.json", "/openapi.json"}
TRACES = ("Traceback", 'File "', "site-packages", "asyncpg.", "pydantic_core")


def check_problem(resp: httpx.Response, where: str) -> None:
    """A problem with its members, status matching the answer's, and no trace."""
    assert resp.headers.get("content-type") == MEDIA_TYPE, (where, resp.status_code, resp.text)
    body = resp.json()
    assert body["status"] == resp.status_code, (where, body)
    assert isinstance(body["type"], str) and isinstance(body["title"], str), (where, body)
    assert isinstance(body.get("detail", ""), str), (where, body)
    assert isinstance(body.get("instance", ""), str), (where, body)
    if resp.status_code == 422 and body["type"] == VALIDATION:
        assert body["errors"], (where, body)
        assert all({"location", "message", "type"} <= set(e) for e in body["errors"]), body
    assert not any(t in resp.text for t in TRACES), (where, resp.text)


def example_requests(spec: dict[str, Any]) -> Iterator[tuple[str, str, bytes | None]]:
    """(method, url, body) of every operation's example request."""
    for path, operations in spec["paths"].items():
        if path in SKIPPED:
            continue
        for method, op in operations.items():
            params = op.get("parameters", [])
            url = path
            for p in params:
                if p["in"] == "path":
                    url = url.replace("{" + p["name"] + "}", "1")
            query = [
                f"{p['name']}={example(spec, p.get('schema', {}))}"
                for p in params
                if p["in"] == "query" and p.get("required")
            ]
            url += ("?" + "&".join(query)) if query else ""
            schema = op.get("requestBody", {}).get("content", {}).get("application/json")
            body = json.dumps(example(spec, schema["schema"])).encode() if schema else None
            yield method.upper(), url, body


def walk(service: RunningService) -> set[int]:
    """Send each operation's example without a token, with every development token and with
    a body of the wrong type; check every error answer; the statuses seen."""
    seen: set[int] = set()
    with httpx.Client(base_url=service.url, timeout=60) as client:
        spec = client.get("/openapi.json").json()
        for method, url, body in example_requests(spec):
            json_type = {"Content-Type": "application/json"}
            attempts = [(json_type, body)] + [
                ({**json_type, "Authorization": f"Bearer {token}"}, body) for token in DEV_TOKENS
            ]
            if body is not None:
                admin = {**json_type, "Authorization": "Bearer dev-admin-token"}
                integration = {**json_type, "Authorization": "Bearer dev-integration-token"}
                attempts += [(admin, b'"not an object"'), (integration, b'"not an object"')]
            for headers, content in attempts:
                resp = client.request(method, url, headers=headers, content=content)
                seen.add(resp.status_code)
                if resp.status_code >= 400:
                    check_problem(resp, f"{service.name} {method} {url}")
    return seen


def test_every_error_of_every_service_is_a_problem_without_a_trace(
    services: dict[str, RunningService],
) -> None:
    seen: dict[str, set[int]] = {name: walk(services[name]) for name in SERVICES}
    for name, statuses in seen.items():
        assert {401, 403, 422} <= statuses, (name, sorted(statuses))
    everywhere = set().union(*seen.values())
    assert {401, 403, 404, 409, 422} <= everywhere, sorted(everywhere)


@pytest.mark.parametrize("service", SERVICES)
def test_an_unknown_route_is_a_404_problem(
    services: dict[str, RunningService], service: str
) -> None:
    resp = httpx.get(f"{services[service].url}/v1/no-such-thing", timeout=30)
    assert resp.status_code == 404
    check_problem(resp, service)
    assert resp.json()["instance"] == "/v1/no-such-thing"


def test_a_refused_case_transition_names_the_allowed_next_steps(
    services: dict[str, RunningService],
) -> None:
    agent = {"Authorization": "Bearer dev-agent-token"}
    supervisor = {"Authorization": "Bearer dev-supervisor-token"}
    with httpx.Client(base_url=services["complaints"].url, timeout=60) as client:
        opened = client.post(
            "/v1/cases",
            headers=agent,
            json={
                "channel": "phone",
                "description": "候诊排队等了三个小时",
                "patient": {"patient_id": "P-PROBLEM-1", "name": "李四", "phone": "13900139000"},
                "department": {"code": "CS", "name": "客服中心"},
            },
        )
        assert opened.status_code == 201, opened.text
        number = opened.json()["case_number"]
        refused = client.post(
            f"/v1/cases/{number}/transitions",
            headers=supervisor,
            json={"to": "closed", "note": "straight to closed"},
        )
        missing = client.get("/v1/cases/TS-19000101-9999", headers=supervisor)
    assert refused.status_code == 409, refused.text
    check_problem(refused, "transition")
    problem = refused.json()
    assert problem["type"] == TRANSITION_REFUSED
    assert problem["current_status"] == opened.json()["status"]
    assert problem["requested"] == "closed"
    assert problem["allowed_next"] and "closed" not in problem["allowed_next"]
    assert missing.status_code == 404
    check_problem(missing, "missing case")
