"""Every service's HTTP API against input nothing downstream can take, on the real processes,
PostgreSQL and Kafka: text with NUL or a lone surrogate, integers past 64 (or 32) bits, dates
in year 9999 or 0001, bodies past the size limit. Each got a 500 (or, for a discharge dated
9999-12-31, a 202 and then a dead letter in two consumers) before the shared request guard
(hospital_shared.http_guard); now each is a 422 naming the field, without echoing the input,
and none of the request's text reaches the log.

Here with the fuzzing, last in the run: it starts every service, and the follow-up service's
development roster (a second desk agent, a cardiology supervisor) would change whom the
complaints service's own tests see cases go to."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hospital_shared import topics
from tests.factories import discharge, envelope
from tests.fuzz import SERVICES
from tests.integration.openapi_walk import untyped_2xx, walk
from tests.integration.services import RunningService
from tests.kafka_tools import eventually, publish, read_all

HUGE = 2**63  # one past PostgreSQL's bigint
TOKENS = {
    "integration": "dev-integration-token",
    "admin": "dev-admin-token",
    "agent": "dev-agent-token",
    "supervisor": "dev-supervisor-token",
}


def call(
    services: dict[str, RunningService],
    service: str,
    method: str,
    path: str,
    *,
    role: str,
    body: Any = None,
    content: bytes | None = None,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKENS[role]}", "Content-Type": "application/json"}
    if body is not None:
        content = json.dumps(body).encode()  # ensure_ascii: \u0000 and \ud800 travel as escapes
    with httpx.Client(base_url=services[service].url, timeout=60) as client:
        return client.request(method, path, headers=headers, content=content)


def staff(**changes: Any) -> dict[str, Any]:
    return {"name": "客服 测试", "department_code": "CS", "role": "agent", "capacity": 10} | changes


def rule(**changes: Any) -> dict[str, Any]:
    return {"category": "waiting_time", "keyword": "排队", "position": 100} | changes


def case(**changes: Any) -> dict[str, Any]:
    return {"channel": "phone", "description": "候诊时间太长"} | changes


def a_discharge(discharged_at: str) -> dict[str, Any]:
    data: dict[str, Any] = discharge(1)["data"]
    return data | {"discharged_at": discharged_at}


# service, method, path, role, body, the location the 422 names
BAD_INPUT = [
    ("followup", "GET", "/v1/staff?department=C%00S", "admin", None, ["query", "department"]),
    ("followup", "GET", "/v1/tasks?patient_id=P%00", "admin", None, ["query", "patient_id"]),
    ("followup", "GET", "/v1/tasks/T%00", "admin", None, ["path", "task_id"]),
    ("followup", "PUT", "/v1/staff/S-X", "admin", staff(department_code="C\x00S"),
     ["body", "department_code"]),
    ("followup", "PUT", "/v1/staff/S-X", "admin", staff(name="王\ud800"), ["body", "name"]),
    ("followup", "PUT", "/v1/staff/" + "S" * 201, "admin", staff(), ["path", "staff_id"]),
    # Found by schemathesis: a 178-character id made the roster event's id too long (a 500).
    ("followup", "PUT", "/v1/staff/" + "S" * 178, "admin", staff(), ["path", "staff_id"]),
    ("followup", "PUT", "/v1/staff/S-X", "admin", staff(name=" "), ["body", "name"]),
    ("followup", "PUT", "/v1/staff/S-X", "admin", staff(department_code=" "),
     ["body", "department_code"]),
    ("complaints", "GET", "/v1/cases/TS%00", "supervisor", None, ["path", "number"]),
    ("complaints", "PATCH", "/v1/category-rules/1", "admin", {"keyword": None},
     ["body", "keyword"]),
    ("complaints", "PATCH", "/v1/category-rules/1", "admin", {"position": None},
     ["body", "position"]),
    ("complaints", "PATCH", f"/v1/category-rules/{HUGE}", "admin", {}, ["path", "rule_id"]),
    ("complaints", "POST", "/v1/category-rules", "admin", rule(position=2**40),
     ["body", "position"]),
    ("complaints", "POST", "/v1/cases", "agent", case(description="太久\x00"),
     ["body", "description"]),
    ("complaints", "POST", "/v1/cases", "agent", case(submitted_at="9999-12-31T10:00:00+08:00"),
     ["body", "submitted_at"]),
    ("notifications", "DELETE", f"/v1/webhooks/{HUGE}", "admin", None, ["path", "webhook_id"]),
    ("notifications", "DELETE", f"/v1/opt-outs/{-HUGE - 1}", "admin", None,
     ["path", "opt_out_id"]),
    ("notifications", "GET", "/v1/messages?patient_id=%00", "admin", None,
     ["query", "patient_id"]),
    ("notifications", "POST", "/v1/opt-outs", "admin", {"patient_id": "P\x00"},
     ["body", "patient_id"]),
    ("metrics", "GET", "/v1/kpi?date=9999-12-31", "admin", None, ["query", "date"]),
    ("metrics", "GET", "/v1/kpi?date=0001-01-01", "admin", None, ["query", "date"]),
    ("metrics", "GET", "/v1/kpi?department=%00", "admin", None, ["query", "department"]),
    # Found by schemathesis (tests/fuzz): each was a 500.
    ("followup", "PUT", "/v1/staff/S-X", "admin", staff(department_code="\u0085"),
     ["body", "department_code"]),  # blank once stripped, as the roster event strips it
    ("complaints", "PATCH", "/v1/category-rules/1", "admin", {"keyword": None},
     ["body", "keyword"]),
    ("metrics", "GET", "/v1/kpi/report.csv?month=9999-12", "admin", None, ["query", "month"]),
    ("metrics", "GET", "/v1/kpi/report.csv?month=0001-01", "admin", None, ["query", "month"]),
    ("registration", "POST", "/v1/discharges", "integration",
     a_discharge("9999-12-31T09:00:00+08:00"), ["body", "discharged_at"]),
    ("registration", "POST", "/v1/discharges", "integration",
     a_discharge("0001-01-01T09:00:00+08:00"), ["body", "discharged_at"]),
    ("registration", "POST", "/v1/events", "integration",
     [envelope("patient.discharged", a_discharge("9999-12-31T23:00:00Z"), subject="P1")],
     ["body", 0, "data", "discharged_at"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("service", "method", "path", "role", "body", "loc"),
    BAD_INPUT,
    ids=[
        f"{s}-{m}-{p.split('?')[0][:40]}-{'/'.join(map(str, loc))}"
        for s, m, p, _, _, loc in BAD_INPUT
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    services: dict[str, RunningService],
    service: str,
    method: str,
    path: str,
    role: str,
    body: Any,
    loc: list[str | int] | str,
) -> None:
    resp = call(services, service, method, path, role=role, body=body)
    assert resp.status_code == 422, resp.text
    problem = resp.json()
    if "errors" not in problem:  # a route's own 422, one sentence naming the field
        assert isinstance(loc, str) and loc in problem["detail"], problem
    else:
        assert loc in [e["location"] for e in problem["errors"]], resp.text


def test_a_422_does_not_echo_a_large_input(services: dict[str, RunningService]) -> None:
    # FastAPI's own 422 carried every bad value back (73 MB for a 10 MB body).
    big = "x" * 600_000  # under the 1 MiB limit
    resp = call(services, "complaints", "POST", "/v1/cases", role="agent", body=case(channel=big))
    assert resp.status_code == 422
    assert len(resp.content) < 2_000, len(resp.content)
    batch = [{"type": big, "id": str(n)} for n in range(3)]
    resp = call(services, "registration", "POST", "/v1/events", role="integration", body=batch)
    assert resp.status_code == 422
    assert len(resp.content) < 2_000, len(resp.content)


@pytest.mark.parametrize("service", SERVICES)
def test_a_body_past_the_limit_is_refused_with_413(
    services: dict[str, RunningService], service: str
) -> None:
    limit = 4 * 1024 * 1024 if service == "registration" else 1024 * 1024
    body = b"[" + b" " * limit + b"]"
    role = "integration" if service == "registration" else "admin"
    path = {"registration": "/v1/events", "followup": "/v1/staff/S-X", "complaints": "/v1/cases",
            "notifications": "/v1/opt-outs", "metrics": "/v1/kpi"}[service]  # fmt: skip
    method = {"followup": "PUT", "metrics": "GET"}.get(service, "POST")
    logged = len(services[service].log)
    resp = call(services, service, method, path, role=role, content=body)
    assert resp.status_code == 413, resp.text[:200]
    assert "request failed" not in services[service].log[logged:]  # a refusal, not a failure


def test_a_rule_changed_into_another_is_a_409(services: dict[str, RunningService]) -> None:
    # Found by schemathesis: the unique (category, keyword) made it a 500.
    words = [f"规则{uuid.uuid4().hex[:8]}" for _ in range(2)]
    ids = [
        call(services, "complaints", "POST", "/v1/category-rules", role="admin",
             body=rule(keyword=w)).json()["id"]
        for w in words
    ]  # fmt: skip
    resp = call(services, "complaints", "PATCH", f"/v1/category-rules/{ids[1]}", role="admin",
                body={"keyword": words[0]})  # fmt: skip
    assert resp.status_code == 409, resp.text


def test_a_streamed_body_is_cut_off_at_the_limit(services: dict[str, RunningService]) -> None:
    # No Content-Length (chunked): the limit holds while the body streams in.
    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(64):
            yield b" " * 32_768  # 2 MiB in all
        yield b"]"

    with httpx.Client(base_url=services["complaints"].url, timeout=60) as client:
        resp = client.post(
            "/v1/cases",
            content=chunks(),
            headers={"Authorization": "Bearer dev-agent-token", "Content-Type": "application/json"},
        )
    assert resp.status_code == 413


def test_a_bad_complaint_text_does_not_reach_the_log(services: dict[str, RunningService]) -> None:
    marker = f"SECRET-{uuid.uuid4().hex}"
    text = f"医生态度差 {marker} 😡"[:-1] + "\ud83d"  # a broken emoji: half a surrogate pair
    resp = call(
        services, "complaints", "POST", "/v1/cases", role="agent", body=case(description=text)
    )
    assert resp.status_code == 422
    # A request answered after it has been handled (and so after anything it logged).
    assert call(services, "complaints", "GET", "/v1/cases", role="supervisor").status_code == 200
    assert marker not in services["complaints"].log


def test_a_rule_changed_into_another_rules_keyword_is_a_409(
    services: dict[str, RunningService],
) -> None:
    # (category, keyword) is unique: the clash was a UniqueViolationError, a 500.
    rules = call(services, "complaints", "GET", "/v1/category-rules", role="admin").json()["rules"]
    first, second = rules[0], rules[1]
    clash = {"category": second["category"], "keyword": second["keyword"]}
    resp = call(
        services, "complaints", "PATCH", f"/v1/category-rules/{first['id']}", role="admin",
        body=clash,
    )  # fmt: skip
    assert resp.status_code == 409, resp.text


WALKS = [  # the role that reaches the most code of each service
    ("registration", "integration"),
    ("followup", "admin"),
    ("complaints", "supervisor"),
    ("notifications", "admin"),
    ("metrics", "admin"),
]


def seeds(services: dict[str, RunningService], service: str) -> dict[str, dict[str, Any]]:
    """Real requests to start from (openapi_walk.Seeds), so that the hostile value is the only
    bad one and reaches the route's code rather than a 404 for an id the example made up."""
    if service == "complaints":
        opened = call(services, "complaints", "POST", "/v1/cases", role="supervisor", body=case())
        number = {"number": opened.json()["case_number"]}
        return {
            f"{method} /v1/cases/{{number}}{tail}": {"path": number, "body": body}
            for method, tail, body in [
                ("GET", "", None),
                ("GET", "/audit", None),
                ("POST", "/transitions", {"to": "in_progress", "note": "处理中"}),
                ("POST", "/satisfaction", {"rating": "satisfied", "comment": "好"}),
                ("POST", "/assignment", {"assignee_id": "S-AGENT-01"}),
            ]
        } | {"POST /v1/cases": {"body": case(patient={"patient_id": "P1", "phone": "13800138000"})}}
    if service == "notifications":
        webhook = {"flavour": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"}
        return {
            "POST /v1/opt-outs": {"body": {"patient_id": "P1", "phone": "13800138000"}},
            "PUT /v1/webhooks": {"body": webhook | {"department_code": "CARD"}},
            "PUT /v1/templates/{name}": {
                "path": {"name": "discharge_care_notice"},
                "body": {"body": "【{{ hospital }}】{{ department }}提醒您"},
            },
            "PUT /v1/questionnaires/{kind}": {
                "path": {"kind": "outpatient_visit"},
                "body": {
                    "title": "门诊满意度",
                    "questions": [{"id": "overall", "aspect": "overall", "text": "总体满意吗？"}],
                },
            },
        }
    if service == "registration":
        return {"POST /v1/events": {"body": [discharge(78)]}}
    return {}


@pytest.mark.parametrize(("service", "role"), WALKS)
def test_every_route_answers_hostile_values_without_a_5xx(
    services: dict[str, RunningService], service: str, role: str
) -> None:
    """Every operation of the service's OpenAPI document, one hostile value at a time in
    its path, query and body (tests/integration/openapi_walk.py)."""
    sent, failures = walk(services[service].url, TOKENS[role], seeds(services, service))
    assert sent > 50
    assert not failures, "\n".join(map(str, failures[:20]))


# The services whose OpenAPI documents type every success answer (issue 18); the others join
# as their routes get response models.
TYPED = ["registration", "notifications", "metrics"]


@pytest.mark.parametrize("service", TYPED)
def test_every_success_answer_the_live_document_names_is_typed(
    services: dict[str, RunningService], service: str
) -> None:
    """A route returning a `dict` is documented as a bare `object` (41 routes did): a client
    generated from the document learns nothing of the answer. tests/test_openapi_typed.py
    checks the same without the stack."""
    spec = httpx.get(f"{services[service].url}/openapi.json", timeout=30).json()
    assert untyped_2xx(spec) == []


def test_an_event_with_a_nul_is_dead_lettered_at_once_as_a_schema_violation(
    services: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    # The contract took it; each consumer's insert then failed (CharacterNotInRepertoireError)
    # on every retry, holding the partition, and dead-lettered it as a handler error.
    event = discharge(77, admission_id=f"NUL-{uuid.uuid4().hex}\x00")
    marker = event["data"]["admission_id"][:-1].encode()
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    dlq = topics.dead_letter_topic(topics.DISCHARGES)

    async def dead_letters() -> dict[bytes, dict[bytes, bytes]] | None:
        found = {
            h[b"dlq-service"]: h
            for r in await read_all(bootstrap, dlq)
            if marker in (r.value or b"")
            for h in [{k.encode(): v for k, v in r.headers or ()}]
        }
        return found if len(found) == 3 else None

    async def scenario() -> dict[bytes, dict[bytes, bytes]]:
        await publish(
            bootstrap, topics.DISCHARGES, [(event["subject"], json.dumps(event).encode())]
        )
        found: dict[bytes, dict[bytes, bytes]] = await eventually(dead_letters, timeout=60)
        return found

    found = asyncio.run(scenario())
    assert set(found) == {b"followup", b"notifications", b"metrics"}
    for headers in found.values():
        assert headers[b"dlq-error-kind"] == b"schema_violation", headers
        assert headers[b"dlq-reason"].startswith(b"data.admission_id:"), headers


@pytest.mark.parametrize(
    "body", ["{{ 1/0 }}", '{{ "a\\u0000" }}', '{{ "x" * 10**9 }}'], ids=["500", "nul", "memory"]
)
def test_a_template_that_cannot_make_a_message_is_a_422_and_not_saved(
    services: dict[str, RunningService], body: str
) -> None:
    # The first was a 500; the second was saved (200), and every message of the template then
    # failed its insert; the third took a gigabyte inside the event loop.
    path = "/v1/templates/staff_task_overdue"
    resp = call(services, "notifications", "PUT", path, role="admin", body={"body": body})
    assert resp.status_code == 422, resp.text
    saved = call(services, "notifications", "GET", "/v1/templates", role="admin").json()["items"]
    assert body not in [t["body"] for t in saved]


def test_a_department_code_a_member_of_staff_typed_is_no_formula_in_the_monthly_report(
    services: dict[str, RunningService],
) -> None:
    # The agent's code reached the managers' CSV as '=HYPERLINK(...)', a formula in Excel.
    code = f"=HYPERLINK({uuid.uuid4().hex[:8]})"
    opened = call(services, "complaints", "POST", "/v1/cases", role="agent",
                  body=case(department={"code": code, "name": "x"}))  # fmt: skip
    assert opened.status_code == 201, opened.text

    async def report_row() -> list[str] | None:
        resp = call(services, "metrics", "GET", "/v1/kpi/report.csv", role="admin")
        rows = [row for row in csv.reader(io.StringIO(resp.text)) if code in row[3]]
        return rows[0] if rows else None

    row = asyncio.run(eventually(report_row, timeout=60))
    assert row[3] == "'" + code
