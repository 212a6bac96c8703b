"""Ids in the services' paths, on the real notifications, follow-up and complaints processes
(and their PostgreSQL): an id with `/` (`%2F`), an empty one or a trailing `/` was answered with
a redirect (307 to the list, which the console showed as "not found") or a bare 404; now a 422
naming the path parameter (`hospital_shared.path_segments`). A member of staff named by a
look-alike id (`Ｓ－ＡＧＥＮＴ－０１`, ` S-AGENT-01 `) is found as the roster's saves would save
them; an id that cannot be normalised is the 422 a save answers (`hospital_shared.staff_ids`)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from hospital_shared.auth import DEV_TOKENS
from tests.integration.services import RunningService, running_all

TOKENS = json.dumps({token: p.model_dump(mode="json") for token, p in DEV_TOKENS.items()})
ADMIN = {"Authorization": "Bearer dev-admin-token"}
WIDE = "Ｓ－ＡＧＥＮＴ－０１"  # full-width, as a Chinese input method types it


@pytest.fixture(scope="module")
def services(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    names = ("notifications", "followup", "complaints")
    with running_all(stack_config, names, {n: {"AUTH_TOKENS": TOKENS} for n in names}) as up:
        yield up


async def _call(
    service: RunningService, method: str, path: str, body: object = None
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as api:
        return await api.request(method, path, headers=ADMIN, json=body)


@pytest.mark.parametrize(
    ("name", "method", "path", "parameter"),
    [
        ("notifications", "GET", "/v1/templates/%2F", "name"),
        ("notifications", "GET", "/v1/templates/complaint_ack/", "name"),
        ("notifications", "GET", "/v1/templates/a%2Fb", "name"),
        ("notifications", "PUT", "/v1/templates/%2F", "name"),
        ("notifications", "GET", "/v1/staff/%2F/channels", "staff_id"),
        ("notifications", "PUT", "/v1/staff/S%2F1/channels", "staff_id"),
        ("notifications", "DELETE", "/v1/webhooks/%2F", "webhook_id"),
        ("notifications", "GET", "/v1/messages/%2F", "message_id"),
        ("followup", "GET", "/v1/tasks/%2F", "task_id"),
        ("followup", "POST", "/v1/tasks/T%2F1/take", "task_id"),
        ("followup", "GET", "/v1/departments/%2F/overview", "code"),
        ("followup", "GET", "/v1/policy/CARD/", "department"),
        ("followup", "GET", "/v1/staff/%2F", "staff_id"),
        ("followup", "GET", "/v1/staff/S%2FNEW", "staff_id"),
        ("complaints", "GET", "/v1/cases/%2F", "number"),
        ("complaints", "GET", "/v1/cases/TS-1/audit/", "number"),
        ("complaints", "GET", "/v1/staff/%2F/handback?role=agent", "staff_id"),
        ("complaints", "GET", "/v1/calendar/years/2027/", "year"),
        ("complaints", "GET", "/v1/enquiries/%2F", "number"),
    ],
)
async def test_an_id_with_a_slash_is_a_422_naming_the_parameter_never_a_redirect(
    services: dict[str, RunningService], name: str, method: str, path: str, parameter: str
) -> None:
    body = {"body": "x"} if method == "PUT" else None
    answer = await _call(services[name], method, path, body)
    assert answer.status_code == 422, (path, answer.status_code, answer.headers.get("location"))
    assert "location" not in answer.headers
    assert [e["location"] for e in answer.json()["errors"]] == [["path", parameter]], answer.text


async def test_a_look_alike_staff_id_finds_the_member_as_a_save_would_save_them(
    services: dict[str, RunningService],
) -> None:
    for raw in (WIDE, " S-AGENT-01 "):
        member = await _call(services["followup"], "GET", f"/v1/staff/{raw}")
        assert member.status_code == 200, (raw, member.text)
        assert (member.json()["staff_id"], member.json()["name"]) == ("S-AGENT-01", "客服 王芳")
        handback = await _call(
            services["complaints"], "GET", f"/v1/staff/{raw}/handback?role=agent"
        )
        assert handback.status_code == 200, (raw, handback.text)
        assert handback.json()["staff_id"] == "S-AGENT-01"
    saved = await _call(services["notifications"], "PUT", f"/v1/staff/{WIDE}/channels",
                        {"channels": ["email"]})  # fmt: skip
    assert saved.status_code == 200, saved.text
    assert saved.json()["staff_id"] == "S-AGENT-01"
    read = await _call(services["notifications"], "GET", "/v1/staff/S-AGENT-01/channels")
    assert read.json()["channels"] == ["email"]
    again = await _call(services["notifications"], "GET", f"/v1/staff/{WIDE}/channels")
    assert (again.json()["staff_id"], again.json()["channels"]) == ("S-AGENT-01", ["email"])
    await _call(services["notifications"], "PUT", "/v1/staff/S-AGENT-01/channels", {})


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("followup", "/v1/staff/S%09NEW"),
        ("followup", "/v1/staff/%E5%BC%A0%E4%B8%89/handback?role=agent"),
        ("complaints", "/v1/staff/S%20NEW%2001/handback?role=agent"),
        ("notifications", "/v1/staff/%E5%BC%A0%E4%B8%89/channels"),
    ],
)
async def test_an_id_that_cannot_be_a_staff_id_is_refused_as_a_save_refuses_it(
    services: dict[str, RunningService], name: str, path: str
) -> None:
    answer = await _call(services[name], "GET", path)
    assert answer.status_code == 422, (path, answer.text)
    error = answer.json()["errors"][0]
    assert error["location"] == ["path", "staff_id"]
    assert "a staff id is letters A-Z a-z" in error["message"]
