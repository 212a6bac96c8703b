"""What each role is shown of the cases on the real stack (the complaints service as a process
on Kafka and PostgreSQL): a patient's list tells a handler that a case they may not read is
open, without what it says; a handler is offered only the steps a handler may take; the
director lists the cases escalated to them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.services import running

ROLES = ("agent", "supervisor", "director")


@pytest.fixture(scope="module")
async def http(stack_config, stack_env) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """The complaints service as a process, and a client of its API."""
    with running(stack_config, "complaints", {}) as service:
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
            yield client


@pytest.fixture(scope="module")
def tokens(stack_env: dict[str, str]) -> dict[str, dict[str, str]]:
    return {r: {"Authorization": f"Bearer {stack_env[f'TOKEN_{r.upper()}']}"} for r in ROLES}


async def open_case(
    http: httpx.AsyncClient, token: dict[str, str], patient_id: str, description: str
) -> dict[str, Any]:
    body = {
        "channel": "phone",
        "description": description,
        "patient": {"patient_id": patient_id, "name": "李四", "phone": "13900139000"},
        "department": {"code": "CS", "name": "客服中心"},
    }
    r = await http.post("/v1/cases", json=body, headers=token)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def listed(
    http: httpx.AsyncClient, token: dict[str, str], **params: str
) -> list[dict[str, Any]]:
    r = await http.get("/v1/cases", params=params, headers=token)
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def test_a_patients_list_shows_a_handler_the_open_case_they_may_not_read_as_a_receipt(
    http, tokens
) -> None:  # type: ignore[no-untyped-def]
    """Audit finding 1: the call screen said "none" while a medical dispute was open."""
    patient = f"P-{uuid.uuid4().hex[:10]}"
    serious = await open_case(
        http, tokens["agent"], patient, "家属认为手术失误导致致残，属医疗事故"
    )
    billing = await open_case(http, tokens["agent"], patient, "收费处多收了检查费")
    assert serious["redacted"] and not billing.get("redacted")  # the serious one is not theirs

    seen = {c["case_number"]: c for c in await listed(http, tokens["agent"], patient_id=patient)}
    assert set(seen) == {serious["case_number"], billing["case_number"]}
    assert seen[serious["case_number"]] == {
        "case_number": serious["case_number"], "status": "received", "redacted": True,
    }  # fmt: skip
    assert seen[billing["case_number"]]["description"] == "收费处多收了检查费"
    open_only = await listed(http, tokens["agent"], patient_id=patient, open="true")
    assert {c["case_number"] for c in open_only} == set(seen)
    # A filter a receipt does not answer keeps to their own cases: probing the category or
    # the priority cannot tell what the hidden case is about.
    for probe in (
        {"category": "medical_quality"},
        {"priority": "urgent"},
        {"assignee": "S-SUP-01"},
    ):
        found = await listed(http, tokens["agent"], patient_id=patient, **probe)
        assert serious["case_number"] not in {c["case_number"] for c in found}, probe
    # The queue (no patient) lists only the agent's own.
    assert serious["case_number"] not in {c["case_number"] for c in await listed(
        http, tokens["agent"], limit="200")}  # fmt: skip
    supervisors = await listed(http, tokens["supervisor"], patient_id=patient)
    assert not any(c.get("redacted") for c in supervisors) and len(supervisors) == 2


async def test_a_handler_is_offered_only_the_steps_a_handler_may_take(http, tokens) -> None:  # type: ignore[no-untyped-def]
    """Audit finding 4: the agent was shown 批准方案 and withdrawing, then refused them."""
    patient = f"P-{uuid.uuid4().hex[:10]}"
    number = (await open_case(http, tokens["agent"], patient, "候诊排队等了三个小时"))[
        "case_number"
    ]

    async def offered(who: str) -> list[str]:
        r = await http.get(f"/v1/cases/{number}", headers=tokens[who])
        assert r.status_code == 200, r.text
        return r.json()["allowed_next"]  # type: ignore[no-any-return]

    assert await offered("agent") == ["acknowledged"]
    assert await offered("supervisor") == ["acknowledged", "withdrawn"]
    for to in ("acknowledged", "investigating"):
        r = await http.post(
            f"/v1/cases/{number}/transitions", json={"to": to}, headers=tokens["agent"]
        )
        assert r.status_code == 200, r.text
    proposal = {"to": "resolution_proposed", "resolution": "致歉", "resolution_kind": "apology"}
    r = await http.post(f"/v1/cases/{number}/transitions", json=proposal, headers=tokens["agent"])
    assert r.status_code == 200 and r.json()["allowed_next"] == []
    assert await offered("supervisor") == ["resolution_approved", "investigating", "withdrawn"]


async def test_the_director_lists_the_cases_escalated_to_them(http, tokens) -> None:  # type: ignore[no-untyped-def]
    """Audit finding 7: the queue had no filter for the director's own cases."""
    patient = f"P-{uuid.uuid4().hex[:10]}"
    serious = await open_case(http, tokens["agent"], patient, "手术失误导致致残，属医疗事故")
    plain = await open_case(http, tokens["agent"], patient, "候诊排队等了三个小时")
    mine = await listed(http, tokens["director"], director="S-DIR-01", limit="200")
    numbers = {c["case_number"] for c in mine}
    assert serious["case_number"] in numbers and plain["case_number"] not in numbers
    assert all(c["escalation"]["director_id"] == "S-DIR-01" for c in mine)
    assert await listed(http, tokens["director"], director="S-SUP-01") == []
    # A handler filtering by a director still sees only what is theirs.
    assert serious["case_number"] not in {
        c["case_number"] for c in await listed(http, tokens["agent"], director="S-DIR-01")
    }
