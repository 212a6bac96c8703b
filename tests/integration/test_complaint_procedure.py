"""The complete complaint procedure (issue 21) on the real stack: the complaints and
notifications services as processes on Kafka and PostgreSQL. A founded case goes validity ->
resolution proposed -> approved by another person -> carried out -> accountability ->
settlement -> communicated -> summary signed off -> closed, with its audit trail and its events
on Kafka; an unfounded one is closed after clearing up the misunderstanding; a serious case
goes to the director, who is notified; an imaging dispute goes to radiology, whose staff are
notified and whose confirmation alone stops the 2-hour clock; a confidential case hides its
text from those not working it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from hospital_shared import topics
from tests.integration.services import RunningService, running_all
from tests.kafka_tools import eventually, json_values, read_all
from tests.local_days import local_today

ROLES = ("agent", "supervisor", "director", "radiology", "admin")


@pytest.fixture(scope="module")
def services(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    env = {"complaints": {"COMPLAINTS_TIMER_INTERVAL_S": "0.2"}}
    with running_all(stack_config, ("complaints", "notifications"), env) as running:
        yield running


@pytest.fixture(scope="module")
async def http(services: dict[str, RunningService]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=services["complaints"].url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def tokens(stack_env: dict[str, str]) -> dict[str, dict[str, str]]:
    return {r: {"Authorization": f"Bearer {stack_env[f'TOKEN_{r.upper()}']}"} for r in ROLES}


async def open_case(
    http: httpx.AsyncClient, token: dict[str, str], description: str
) -> dict[str, Any]:
    n = uuid.uuid4().hex[:10]
    body = {
        "channel": "phone",
        "description": description,
        "patient": {"patient_id": f"P-{n}", "name": "李四", "phone": "13900139000"},
        "department": {"code": "CS", "name": "客服中心"},
    }
    r = await http.post("/v1/cases", json=body, headers=token)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def step(
    http: httpx.AsyncClient, number: str, to: str, token: dict[str, str], **body: Any
) -> httpx.Response:
    return await http.post(
        f"/v1/cases/{number}/transitions", json={"to": to, **body}, headers=token
    )


async def post(
    http: httpx.AsyncClient, number: str, what: str, token: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    return await http.post(f"/v1/cases/{number}/{what}", json=body, headers=token)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def case_events(bootstrap: str, number: str, count: int) -> list[dict[str, Any]]:
    """The case's events on Kafka, once `count` of them are there."""

    async def found() -> list[dict[str, Any]]:
        events = json_values(await read_all(bootstrap, topics.COMPLAINT_CASES))
        mine = [e for e in events if e.get("subject") == number]
        return mine if len(mine) >= count else []

    return await eventually(found, timeout=30)  # type: ignore[no-any-return]


async def staff_messages(
    services: dict[str, RunningService], tokens: dict[str, Any], staff_id: str, number: str
) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=services["notifications"].url, timeout=5) as client:
        r = await client.get(
            "/v1/messages", params={"staff_id": staff_id}, headers=tokens["supervisor"]
        )
    r.raise_for_status()
    return [m for m in r.json()["items"] if number in (m.get("body") or "")]


async def test_a_founded_complaint_goes_through_the_whole_procedure(
    services, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    case = await open_case(http, tokens["agent"], "收费处多收了检查费，窗口人员态度冷淡")
    number = case["case_number"]
    assert (case["assignee_id"], case["supervisor_id"]) == ("S-AGENT-01", "S-SUP-01")
    for to in ("acknowledged", "investigating"):
        ok(await step(http, number, to, tokens["agent"]))
    founded = ok(
        await post(
            http,
            number,
            "validity",
            tokens["agent"],
            {"founded": True, "reason": "收费记录查实多收"},
        )
    )
    assert founded["validity"] == {"decision": "founded", "reason": "收费记录查实多收"}
    assert founded["status"] == "investigating"

    resolution = {"resolution": "退还多收费用并签订和解协议", "resolution_kind": "settlement"}
    ok(await step(http, number, "resolution_proposed", tokens["supervisor"], **resolution))
    # Four eyes: the supervisor who proposed it may not approve it; the director does.
    refused = await step(http, number, "resolution_approved", tokens["supervisor"])
    assert refused.status_code == 409 and "four eyes" in refused.text
    assert (await step(http, number, "resolution_approved", tokens["agent"])).status_code == 403
    approved = ok(await step(http, number, "resolution_approved", tokens["director"]))
    assert approved["proposed_by"] == "S-SUP-01"
    # Carrying out the resolution (实施处理方案) cannot be skipped: the refusal names it.
    skipped = await step(http, number, "communicated", tokens["agent"], note="已告知")
    assert skipped.status_code == 409, skipped.text
    assert skipped.json()["missing_step"] == "resolution_implemented"
    ok(await step(http, number, "resolution_implemented", tokens["agent"], note="已退费"))

    measure = {"staff_id": "S-AGENT-01", "measure": "criticism", "detail": "窗口服务态度"}
    assert (await post(http, number, "accountability", tokens["agent"], measure)).status_code == 403
    # Held against a member of staff the roster knows: an id nobody has is refused, naming it.
    nobody = await post(
        http, number, "accountability", tokens["supervisor"], measure | {"staff_id": "S-NOBODY-9"}
    )
    assert nobody.status_code == 422, nobody.text
    assert [e["location"] for e in nobody.json()["errors"]] == [["body", "staff_id"]]
    ok(await post(http, number, "accountability", tokens["supervisor"], measure))
    path = f"/v1/cases/{number}/accountability"
    assert (await http.get(path, headers=tokens["agent"])).status_code == 403
    for reader in ("supervisor", "admin"):
        [record] = ok(await http.get(path, headers=tokens[reader]))["accountability"]
        assert (record["staff_id"], record["measure"], record["recorded_by"]) == (
            "S-AGENT-01",
            "criticism",
            "S-SUP-01",
        )

    today = local_today()  # the hospital's date: the case's is Asia/Shanghai's
    agreement = {"amount": "860.50", "signed_on": today.isoformat(), "document_ref": "HJ-0042"}
    for field, bad in (("amount", "0"), ("signed_on", (today + timedelta(days=2)).isoformat())):
        r = await post(http, number, "settlement", tokens["agent"], agreement | {field: bad})
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["location"] == ["body", field]
    settled = ok(await post(http, number, "settlement", tokens["agent"], agreement))
    assert settled["settlement"] == {
        "amount": "860.50",
        "signed_on": today.isoformat(),
        "document_ref": "HJ-0042",
    }
    again = await post(http, number, "settlement", tokens["agent"], agreement)
    assert again.status_code == 409 and "already" in again.text

    ok(await step(http, number, "communicated", tokens["agent"], note="已电话告知患者"))
    # Nor can the supervisor's sign-off of the summary (总结批示) before closing.
    unsigned = await step(http, number, "closed", tokens["agent"])
    assert unsigned.status_code == 409, unsigned.text
    assert unsigned.json()["missing_step"] == "summary_signed_off"
    assert "summary_signed_off must come first" in unsigned.json()["detail"]
    assert (
        await step(http, number, "summary_signed_off", tokens["agent"], note="x")
    ).status_code == 403
    no_summary = await step(http, number, "summary_signed_off", tokens["supervisor"])
    assert no_summary.status_code == 422 and no_summary.json()["errors"][0]["location"] == [
        "body",
        "note",
    ]
    signed = ok(
        await step(
            http, number, "summary_signed_off", tokens["supervisor"], note="同意结案，加强窗口培训"
        )
    )
    assert signed["summary"] == {"text": "同意结案，加强窗口培训", "signed_off_by": "S-SUP-01"}
    closed = ok(await step(http, number, "closed", tokens["agent"]))
    assert closed["status"] == "closed"

    audit = ok(await http.get(f"/v1/cases/{number}/audit", headers=tokens["agent"]))["audit"]
    trail = [(a["action"], a["from_status"], a["to_status"], a["actor_id"]) for a in audit]
    assert trail == [
        ("opened", None, "received", "S-AGENT-01"),
        ("transition", "received", "acknowledged", "S-AGENT-01"),
        ("transition", "acknowledged", "investigating", "S-AGENT-01"),
        ("validity_decided", "investigating", "investigating", "S-AGENT-01"),
        ("transition", "investigating", "resolution_proposed", "S-SUP-01"),
        ("transition", "resolution_proposed", "resolution_approved", "S-DIR-01"),
        ("transition", "resolution_approved", "resolution_implemented", "S-AGENT-01"),
        ("accountability_recorded", "resolution_implemented", "resolution_implemented", "S-SUP-01"),
        ("settlement_recorded", "resolution_implemented", "resolution_implemented", "S-AGENT-01"),
        ("transition", "resolution_implemented", "communicated", "S-AGENT-01"),
        ("transition", "communicated", "summary_signed_off", "S-SUP-01"),
        ("transition", "summary_signed_off", "closed", "S-AGENT-01"),
    ]
    # The handler's audit trail says a record was made, never who was held responsible.
    accountability_line = audit[7]
    assert set(accountability_line["detail"]) == {"record_id"}

    events = await case_events(stack_env["KAFKA_BOOTSTRAP_SERVERS"], number, 12)
    assert [e["type"].removeprefix("complaint.") for e in events] == [
        "case_opened",
        "case_acknowledged",
        "case_investigation_started",
        "case_validity_decided",
        "case_resolution_proposed",
        "case_resolution_approved",
        "case_resolution_implemented",
        "case_accountability_recorded",
        "case_settlement_recorded",
        "case_communicated",
        "case_summary_signed_off",
        "case_closed",
    ]
    assert events[3]["data"]["validity"] == "founded"
    recorded = json.dumps(events[7], ensure_ascii=False)
    assert "criticism" not in recorded and "窗口服务态度" not in recorded
    assert "860.50" not in json.dumps(events[8])


async def test_an_unfounded_complaint_is_closed_by_clearing_up_the_misunderstanding(
    services, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    number = (await open_case(http, tokens["agent"], "候诊时间太长，怀疑有人插队"))["case_number"]
    for to in ("acknowledged", "investigating"):
        ok(await step(http, number, to, tokens["agent"]))
    reason = {"founded": False, "reason": "插队者为急诊患者，按规定优先"}
    unfounded = ok(await post(http, number, "validity", tokens["agent"], reason))
    assert unfounded["status"] == "unfounded"
    assert unfounded["validity"] == {"decision": "unfounded", "reason": reason["reason"]}
    limits = {t["limit"]: t["state"] for t in unfounded["time_limits"]}
    assert limits["fact_finding"] == "met"
    # Not withdrawn: closed once the patient has had it explained, and the note says how.
    withdrawn = await step(http, number, "withdrawn", tokens["supervisor"], note="x")
    assert withdrawn.status_code == 409
    assert set(withdrawn.json()["allowed_next"]) == {"closed", "investigating"}
    silent = await step(http, number, "closed", tokens["agent"])
    assert silent.status_code == 422 and silent.json()["errors"][0]["location"] == ["body", "note"]
    ok(
        await step(
            http, number, "closed", tokens["agent"], note="已向患者解释急诊优先制度，患者表示理解"
        )
    )
    late = await post(http, number, "validity", tokens["agent"], {"founded": True, "reason": "x"})
    assert late.status_code == 409 and "while investigating" in late.text
    events = await case_events(stack_env["KAFKA_BOOTSTRAP_SERVERS"], number, 5)
    assert [e["type"] for e in events][-2:] == [
        "complaint.case_found_unfounded",
        "complaint.case_closed",
    ]
    assert events[-2]["data"]["validity"] == "unfounded"


async def test_a_serious_case_goes_to_the_director_who_is_notified_and_approves(
    services, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    case = await open_case(http, tokens["agent"], "家属认为手术失误导致致残，属医疗事故")
    number = case["case_number"]
    assert (
        case["status"] == "received"
    )  # serious: the supervisor handles it, the agent gets the receipt
    # Serious cases and medical disputes go to the director as they open, who is told at once;
    # the director's clock waits for a proposal to decide.
    opened = ok(await http.get(f"/v1/cases/{number}", headers=tokens["supervisor"]))
    assert opened["escalation"]["director_id"] == "S-DIR-01"
    assert "director_decision" not in {t["limit"] for t in opened["time_limits"]}
    notes = await eventually(
        lambda: staff_messages(services, tokens, "S-DIR-01", number), timeout=30
    )
    assert {m["template"] for m in notes} == {"staff_case_escalated"}
    first_events = await case_events(stack_env["KAFKA_BOOTSTRAP_SERVERS"], number, 2)
    assert [e["type"] for e in first_events[:2]] == [
        "complaint.case_opened",
        "complaint.case_escalated",
    ]

    for to in ("acknowledged", "investigating"):
        ok(await step(http, number, to, tokens["supervisor"]))
    proposal = {"resolution": "组织医疗事故鉴定并协商赔偿", "resolution_kind": "compensation"}
    proposed = ok(await step(http, number, "resolution_proposed", tokens["supervisor"], **proposal))
    assert proposed["escalation"]["director_id"] == "S-DIR-01"
    limits = {t["limit"]: t["state"] for t in proposed["time_limits"]}
    assert limits["director_decision"] == "running"
    # Above the supervisor: the case's supervisor may not approve it, the director does.
    refused = await step(http, number, "resolution_approved", tokens["supervisor"])
    assert refused.status_code == 403 and "director" in refused.text
    approved = ok(await step(http, number, "resolution_approved", tokens["director"]))
    limits = {t["limit"]: t["state"] for t in approved["time_limits"]}
    assert limits["director_decision"] == "met"
    types = [e["type"] for e in await case_events(stack_env["KAFKA_BOOTSTRAP_SERVERS"], number, 6)]
    assert types == [
        "complaint.case_opened",
        "complaint.case_escalated",
        "complaint.case_acknowledged",
        "complaint.case_investigation_started",
        "complaint.case_resolution_proposed",
        "complaint.case_resolution_approved",
    ]

    # A case the supervisor cannot settle is escalated by hand.
    other = (await open_case(http, tokens["agent"], "排队三小时无人解释"))["case_number"]
    by_hand = ok(
        await post(http, other, "escalation", tokens["supervisor"], {"reason": "患者要求院长答复"})
    )
    assert by_hand["escalation"]["director_id"] == "S-DIR-01"
    twice = await post(http, other, "escalation", tokens["supervisor"], {"reason": "again"})
    assert twice.status_code == 409 and "already" in twice.text
    assert (
        await post(http, other, "escalation", tokens["agent"], {"reason": "x"})
    ).status_code == 403


async def test_an_imaging_dispute_goes_to_radiology_whose_confirmation_alone_stops_the_clock(
    services, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    case = await open_case(http, tokens["supervisor"], "CT报告与片子不符，要求放射科复核")
    number = case["case_number"]
    assert (case["category"], case["assignee_id"], case["handling_department"]) == (
        "imaging_dispute",
        "S-RAD-01",
        "RAD",
    )
    notes = await eventually(
        lambda: staff_messages(services, tokens, "S-RAD-01", number), timeout=30
    )
    assert {m["template"] for m in notes} == {"staff_case_assigned"}

    for to in ("acknowledged", "investigating"):
        moved = ok(await step(http, number, to, tokens["radiology"]))
    limits = {t["limit"]: t["state"] for t in moved["time_limits"]}
    assert limits["imaging_confirmation"] == "running"  # investigating no longer stops it
    not_radiology = await post(http, number, "imaging-confirmation", tokens["supervisor"], {})
    assert not_radiology.status_code == 403 and "radiology" in not_radiology.text
    confirmed = ok(
        await post(
            http,
            number,
            "imaging-confirmation",
            tokens["radiology"],
            {"note": "复核影像，报告描述有误"},
        )
    )
    limits = {t["limit"]: t["state"] for t in confirmed["time_limits"]}
    assert limits["imaging_confirmation"] == "met"
    assert confirmed["imaging_confirmation"]["confirmed_by"] == "S-RAD-01"
    again = await post(http, number, "imaging-confirmation", tokens["radiology"], {})
    assert again.status_code == 409
    types = [e["type"] for e in await case_events(stack_env["KAFKA_BOOTSTRAP_SERVERS"], number, 4)]
    assert types[-1] == "complaint.case_imaging_confirmed"


async def test_a_confidential_case_hides_its_text_from_those_not_working_it(
    services, http, tokens
) -> None:  # type: ignore[no-untyped-def]
    text = "投诉某医生收受红包"
    number = (await open_case(http, tokens["agent"], text))["case_number"]
    ok(await step(http, number, "acknowledged", tokens["agent"], note="已联系举报人"))
    read = await http.get(f"/v1/cases/{number}", headers=tokens["admin"])
    assert read.json()["description"] == text
    assert (
        await post(http, number, "confidentiality", tokens["agent"], {"level": "confidential"})
    ).status_code == 403
    ok(await post(http, number, "confidentiality", tokens["supervisor"], {"level": "confidential"}))

    hidden = ok(await http.get(f"/v1/cases/{number}", headers=tokens["admin"]))
    assert hidden["description"] is None and hidden["text_withheld"] is True
    assert hidden["status"] == "acknowledged"  # the progress stays visible
    audit = ok(await http.get(f"/v1/cases/{number}/audit", headers=tokens["admin"]))["audit"]
    assert "已联系举报人" not in json.dumps(audit, ensure_ascii=False)
    for reader in ("agent", "supervisor", "director"):
        seen = ok(await http.get(f"/v1/cases/{number}", headers=tokens[reader]))
        assert seen["description"] == text and seen["confidentiality"] == "confidential", reader


async def test_the_director_who_proposed_the_resolution_is_not_offered_its_approval(
    services, http, tokens
) -> None:  # type: ignore[no-untyped-def]
    """Four eyes: whoever proposed a resolution may not approve it, so the director who
    proposed the resolution of a case escalated to them is not offered the approval either."""
    number = (await open_case(http, tokens["agent"], "家属认为手术失误导致致残，属医疗事故"))[
        "case_number"
    ]
    for to in ("acknowledged", "investigating"):
        ok(await step(http, number, to, tokens["supervisor"]))
    proposal = {"resolution": "组织医疗事故鉴定并协商赔偿", "resolution_kind": "compensation"}
    proposed = ok(await step(http, number, "resolution_proposed", tokens["director"], **proposal))
    assert proposed["proposed_by"] == "S-DIR-01"
    assert "resolution_approved" not in proposed["allowed_next"]
    read = ok(await http.get(f"/v1/cases/{number}", headers=tokens["director"]))
    assert "resolution_approved" not in read["allowed_next"]
    refused = await step(http, number, "resolution_approved", tokens["director"])
    assert refused.status_code == 409 and "four eyes" in refused.text, refused.text


async def _settled_and_implemented(
    http: httpx.AsyncClient, tokens: dict[str, dict[str, str]], number: str, amount: str
) -> dict[str, Any]:
    for to in ("acknowledged", "investigating"):
        ok(await step(http, number, to, tokens["agent"]))
    resolution = {"resolution": "退还多收费用并签订和解协议", "resolution_kind": "settlement"}
    ok(await step(http, number, "resolution_proposed", tokens["supervisor"], **resolution))
    ok(await step(http, number, "resolution_approved", tokens["director"]))
    ok(await step(http, number, "resolution_implemented", tokens["agent"], note="已退费"))
    settlement = {"amount": amount, "signed_on": date.today().isoformat(), "document_ref": f"HJ-{amount}"}  # fmt: skip
    return ok(await post(http, number, "settlement", tokens["agent"], settlement))


async def test_a_reopened_case_records_its_own_settlement_and_summary(
    services, http, tokens
) -> None:  # type: ignore[no-untyped-def]
    """After a dissatisfied answer reopens the case, its new cycle's settlement is recorded
    (it was refused as recorded already) and the first cycle's settlement and summary no
    longer show as the case's: they are in its audit trail."""
    number = (await open_case(http, tokens["agent"], "收费处多收了检查费"))["case_number"]
    first = await _settled_and_implemented(http, tokens, number, "100.00")
    assert first["settlement"]["amount"] == "100.00"
    ok(await step(http, number, "communicated", tokens["agent"], note="已告知"))
    ok(await step(http, number, "summary_signed_off", tokens["supervisor"], note="第一次总结"))
    ok(await step(http, number, "closed", tokens["agent"]))
    reopened = ok(await post(http, number, "satisfaction", tokens["agent"], {"rating": "dissatisfied"}))  # fmt: skip
    assert (reopened["status"], reopened["cycle"]) == ("reopened", 2)
    assert reopened["settlement"] is None
    assert reopened["summary"] == {"text": None, "signed_off_by": None}
    second = await _settled_and_implemented(http, tokens, number, "250.00")
    assert second["settlement"]["amount"] == "250.00"
    audit = ok(await http.get(f"/v1/cases/{number}/audit", headers=tokens["supervisor"]))["audit"]
    amounts = [a["detail"]["amount"] for a in audit if a["action"] == "settlement_recorded"]
    assert amounts == ["100.00", "250.00"]
    assert "第一次总结" in [a["detail"].get("note") for a in audit]
