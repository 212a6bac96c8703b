"""Enquiries (咨询) and praise and suggestions (表扬、建议) on the real stack: the complaints
service (PostgreSQL, its outbox to Kafka) and the notifications service (Kafka in, staff SMS out
through Kannel to the fake SMSC).

Time is controlled the way the complaint time-limit tests do it: an enquiry is taken with a
`taken_at` in the past (the clock starts when the patient asked), so an on-site enquiry asked
31 minutes ago is already past its 30-minute limit; nothing waits for the clock.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from complaints import enquiry_cases
from hospital_shared import topics
from hospital_shared.auth import DEV_TOKENS
from hospital_shared.codec import encode
from hospital_shared.events import make_event
from hospital_shared.service_events.followup import StaffMemberSaved, StaffRole
from tests.integration.services import RunningService, running, running_all
from tests.integration.test_notifications_sms import BASE_ENV, sms_received, staff_known
from tests.kafka_tools import eventually, json_values, publish, read_all
from tests.local_days import local_days, summed

FAST_TIMERS = {"COMPLAINTS_TIMER_INTERVAL_S": "0.2"}
RUN = uuid.uuid4().hex[:6].upper()
# An agent the test puts on the roster and makes inactive, and a doctor never on it.
LEAVING, UNROSTERED = f"S-LEAVE-{RUN}", f"S-UNROSTERED-{RUN}"
TOKENS = {
    **{token: p.model_dump(mode="json") for token, p in DEV_TOKENS.items()},
    "t-leaving": {"role": "agent", "staff_id": LEAVING, "department": "CS"},
    "t-unrostered": {"role": "doctor", "staff_id": UNROSTERED, "department": "CARD"},
}


@pytest.fixture(scope="module")
def started(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    env = {
        "complaints": FAST_TIMERS | {"AUTH_TOKENS": json.dumps(TOKENS)},
        "notifications": dict(BASE_ENV),
    }
    with running_all(stack_config, ["complaints", "notifications"], env) as s:
        yield s  # together: one after the other took 4 s more


@pytest.fixture(scope="module")
def complaints(started: dict[str, RunningService]) -> RunningService:
    return started["complaints"]


@pytest.fixture(scope="module")
def notifications(started: dict[str, RunningService]) -> RunningService:
    return started["notifications"]


@pytest.fixture(scope="module")
async def http(complaints: RunningService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=complaints.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def tokens(stack_env: dict[str, str]) -> dict[str, dict[str, str]]:
    roles = ("agent", "doctor", "supervisor", "ward_supervisor", "admin", "integration")
    named = {r: {"Authorization": f"Bearer {stack_env[f'TOKEN_{r.upper()}']}"} for r in roles}
    return named | {t: {"Authorization": f"Bearer {t}"} for t in ("t-leaving", "t-unrostered")}


def unique() -> int:
    return uuid.uuid4().int % 10**8


async def take(http: httpx.AsyncClient, token: dict[str, str], **over: Any) -> dict[str, Any]:
    body = {
        "channel": "onsite",
        "question": "请问心内科专家门诊周几出诊？",
        "patient": {"patient_id": f"P-{unique()}", "name": "王五", "phone": "13700137000"},
        **over,
    }
    response = await http.post("/v1/enquiries", json=body, headers=token)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def events_about(bootstrap: str, subject: str, prefix: str = "") -> list[dict[str, Any]]:
    events = json_values(await read_all(bootstrap, topics.COMPLAINT_CASES))
    return [e for e in events if e.get("subject") == subject and e["type"].startswith(prefix)]


async def query(stack_env: dict[str, str], sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(
        stack_env["DATABASE_URL"], server_settings={"search_path": "complaints"}
    )
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def texts_to(stack_config: Any, phone: str, marker: str) -> list[str]:
    """The SMS fakesmsc received for `phone` mentioning `marker`. By phone as well: numbers
    start again on a fresh stack, while the fake SMSC's log keeps earlier runs' messages."""
    return [text for to, text in sms_received(stack_config, marker) if to.endswith(phone[-10:])]


async def supervisor_on_both_rosters(stack_env: dict[str, str]) -> tuple[str, str, str]:
    """A new department with its own supervisor (with a phone), known to the complaints and the
    notifications services: (department, supervisor id, phone)."""
    n = unique()
    department, supervisor, phone = f"E{n}", f"S-SUP-E{n}", f"136{n:08d}"
    member = StaffMemberSaved(
        staff_id=supervisor,
        name="咨询主管",
        department_code=department,
        role=StaffRole.SUPERVISOR,
        capacity=10,
        phone=phone,
    )
    event = make_event(
        "staff.member_saved", member, source="urn:test", subject=supervisor, time=datetime.now(UTC)
    )
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.STAFF_ROSTER, [(supervisor, encode(event))]
    )
    await eventually(lambda: staff_known(stack_env, supervisor), timeout=30)
    await eventually(
        lambda: query(stack_env, "SELECT count(*) FROM staff WHERE staff_id = $1", supervisor),
        timeout=30,
    )
    return department, supervisor, phone


# --- the required test: an enquiry breaching its 30-minute limit escalates once -----------------


async def test_an_enquiry_breaching_its_30_minute_limit_escalates_once(
    complaints, notifications, http, tokens, stack_env, stack_config
) -> None:  # type: ignore[no-untyped-def]
    department, supervisor, phone = await supervisor_on_both_rosters(stack_env)
    asked = (datetime.now(UTC) - timedelta(minutes=31)).isoformat()
    enquiry = await take(
        http, tokens["agent"], taken_at=asked, department={"code": department, "name": "测试科"}
    )
    number = enquiry["enquiry_number"]
    assert enquiry["supervisor_id"] == supervisor
    assert enquiry["time_limit"]["limit"] == "onsite_answer"
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]

    escalated = await eventually(
        lambda: events_about(bootstrap, number, "enquiry.time_limit_breached"), timeout=30
    )
    assert escalated[0]["data"]["supervisor_id"] == supervisor
    await eventually(lambda: texts_to(stack_config, phone, number), timeout=30)

    # The marker: a second enquiry, taken after the first escalated, escalates too. Alerts are
    # published in commit order, and its escalation needed a timer pass after the first's: a
    # repeat of the first would be out before it. Its SMS delivered, the first's would be too.
    marker = (
        await take(
            http, tokens["agent"], taken_at=asked, department={"code": department, "name": "测试科"}
        )
    )["enquiry_number"]
    await eventually(
        lambda: events_about(bootstrap, marker, "enquiry.time_limit_breached"), timeout=30
    )
    await eventually(lambda: texts_to(stack_config, phone, marker), timeout=30)

    alerts = await events_about(bootstrap, number, "enquiry.time_limit_")
    assert sorted(e["data"]["level"] for e in alerts) == ["breach", "warning"]
    escalations = [text for text in texts_to(stack_config, phone, number) if "咨询超时" in text]
    assert len(escalations) == 1
    escalation_rows = "SELECT count(*) FROM enquiry_alerts a JOIN enquiries e ON e.id = a.enquiry_id WHERE e.enquiry_number = $1 AND a.level = 'breach'"
    assert await query(stack_env, escalation_rows, number) == 1
    read = await http.get(f"/v1/enquiries/{number}", headers=tokens["agent"])
    assert read.json()["time_limit"]["state"] == "breached"
    assert [h["action"] for h in read.json()["history"]] == [
        "taken",
        "time_limit_warning",
        "escalated",
    ]


async def types_of(stack_env: dict[str, str], number: str, count: int) -> list[str]:
    """The types of the first `count` events published about `number`, once they are out."""

    async def out() -> list[str] | None:
        found = await events_about(stack_env["KAFKA_BOOTSTRAP_SERVERS"], number)
        return [e["type"] for e in found] if len(found) >= count else None

    types: list[str] = await eventually(out, timeout=30)
    return types


async def test_open_enquiries_are_listed_by_where_their_time_limit_stands(
    complaints, http, tokens
) -> None:  # type: ignore[no-untyped-def]
    """The supervisor's screen asks for the enquiries in breach and in warning: on site, 30
    minutes; asked 31 minutes ago it is breached, 26 minutes ago past its warning (80%), 5
    minutes ago running; answered, it is in no state (its limit is settled)."""
    now = datetime.now(UTC)
    taken = {
        state: (
            await take(http, tokens["agent"], taken_at=(now - timedelta(minutes=m)).isoformat())
        )["enquiry_number"]
        for state, m in (("breached", 31), ("warning", 26), ("running", 5), ("answered", 31))
    }
    r = await http.post(
        f"/v1/enquiries/{taken['answered']}/answer",
        json={"answer": "三楼"},
        headers=tokens["agent"],
    )
    assert r.status_code == 200, r.text
    for state in ("breached", "warning", "running"):
        r = await http.get(
            "/v1/enquiries", params={"time_limit": state, "limit": 200}, headers=tokens["agent"]
        )
        listed = {e["enquiry_number"] for e in r.json()["items"]}
        assert listed & set(taken.values()) == {taken[state]}, state
        assert {e["time_limit"]["state"] for e in r.json()["items"]} == {state}
    r = await http.get("/v1/enquiries", params={"time_limit": "late"}, headers=tokens["agent"])
    assert r.status_code == 422 and "time_limit" in r.json()["errors"][0]["location"]


# --- the lifecycle -----------------------------------------------------------------------


async def test_the_taker_owns_it_hands_it_over_with_a_reason_and_the_new_owner_answers_in_time(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    enquiry = await take(http, tokens["agent"], channel="phone", complex=True)
    number = enquiry["enquiry_number"]
    assert (enquiry["taken_by"], enquiry["owner_id"]) == ("S-AGENT-01", "S-AGENT-01")
    # Numbered by the hospital's day: asked at 00:30 local time, the previous day in UTC.
    shanghai = ZoneInfo("Asia/Shanghai")
    early = datetime.now(shanghai).replace(hour=0, minute=30, second=0, microsecond=0)
    asked_early = await take(
        http, tokens["agent"], channel="phone", taken_at=early.astimezone(UTC).isoformat()
    )
    assert asked_early["enquiry_number"].startswith(f"ZX-{early:%Y%m%d}-")
    assert enquiry["time_limit"]["limit"] == "complex_answer"
    due = datetime.fromisoformat(enquiry["time_limit"]["due_at"])
    taken = datetime.fromisoformat(enquiry["taken_at"])
    assert due - taken == timedelta(hours=48)

    # Someone else cannot answer it; a handover needs a reason.
    r = await http.post(
        f"/v1/enquiries/{number}/answer", json={"answer": "x"}, headers=tokens["doctor"]
    )
    assert r.status_code == 403
    r = await http.post(
        f"/v1/enquiries/{number}/handover", json={"to": "S-DOC-01"}, headers=tokens["agent"]
    )
    assert r.status_code == 422 and r.json()["errors"][0]["location"] == ["body", "reason"]
    r = await http.post(
        f"/v1/enquiries/{number}/handover",
        json={"to": "S-NOBODY", "reason": "专科问题"},
        headers=tokens["agent"],
    )
    assert r.status_code == 409 and "S-NOBODY" in r.json()["detail"]

    r = await http.post(
        f"/v1/enquiries/{number}/handover",
        json={"to": "S-DOC-01", "reason": "需心内科医生解答用药问题"},
        headers=tokens["agent"],
    )
    assert r.status_code == 200, r.text
    assert (r.json()["owner_id"], r.json()["taken_by"]) == ("S-DOC-01", "S-AGENT-01")
    # The first taker no longer answers for it, but still sees it.
    r = await http.post(
        f"/v1/enquiries/{number}/answer", json={"answer": "x"}, headers=tokens["agent"]
    )
    assert r.status_code == 403
    assert (await http.get(f"/v1/enquiries/{number}", headers=tokens["agent"])).status_code == 200

    r = await http.post(
        f"/v1/enquiries/{number}/answer",
        json={"answer": "周二、周四上午"},
        headers=tokens["doctor"],
    )
    assert r.status_code == 200, r.text
    assert r.json()["answered_in_time"] is True and r.json()["time_limit"]["state"] == "met"
    again = await http.post(
        f"/v1/enquiries/{number}/answer", json={"answer": "y"}, headers=tokens["doctor"]
    )
    assert again.status_code == 409

    history = (await http.get(f"/v1/enquiries/{number}", headers=tokens["doctor"])).json()[
        "history"
    ]
    assert [h["action"] for h in history] == ["taken", "handed_over", "answered"]
    assert history[1]["detail"] == {
        "from": "S-AGENT-01",
        "to": "S-DOC-01",
        "reason": "需心内科医生解答用药问题",
    }
    events = await types_of(stack_env, number, 3)
    assert events == ["enquiry.taken", "enquiry.handed_over", "enquiry.answered"]


async def test_an_enquiry_is_handed_only_to_a_colleague_who_answers_enquiries_not_its_owner(
    complaints, http, tokens
) -> None:  # type: ignore[no-untyped-def]
    """Handed to the director (who may not answer enquiries) or to its own owner, nobody who
    owns it could work it, or the record would say it changed hands when it did not: both are
    refused naming `to`, and the enquiry stays as it was."""
    number = (await take(http, tokens["agent"], channel="phone"))["enquiry_number"]
    for to, said in (("S-DIR-01", "S-DIR-01 is a director"), ("S-AGENT-01", "owns this")):
        r = await http.post(
            f"/v1/enquiries/{number}/handover",
            json={"to": to, "reason": "转交"},
            headers=tokens["agent"],
        )
        assert r.status_code == 422, (to, r.text)
        error = r.json()["errors"][0]
        assert error["location"] == ["body", "to"] and said in error["message"], r.text
    after = (await http.get(f"/v1/enquiries/{number}", headers=tokens["agent"])).json()
    assert after["owner_id"] == "S-AGENT-01"
    assert [h["action"] for h in after["history"]] == ["taken"]


async def test_a_hand_edited_list_cursor_is_refused_naming_it_not_a_server_error(
    complaints, http, tokens
) -> None:  # type: ignore[no-untyped-def]
    """An id past PostgreSQL's bigint (or not a whole number) was sent to the query: a 500."""
    for forged in (2**63, 10**30, 1e400, "12", True, 0):
        raw = json.dumps({"id": forged}).encode()
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        for path in ("/v1/enquiries", "/v1/feedback"):
            r = await http.get(path, params={"cursor": cursor}, headers=tokens["agent"])
            assert r.status_code == 422, (forged, path, r.text)
            assert r.json()["errors"][0]["location"] == ["query", "cursor"]
    largest = base64.urlsafe_b64encode(json.dumps({"id": 2**63 - 1}).encode()).decode()
    r = await http.get("/v1/enquiries", params={"cursor": largest}, headers=tokens["agent"])
    assert r.status_code == 200, r.text


async def test_phones_are_checked_and_praise_names_someone_active_on_the_roster(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """A relative's, an enquirer's or a feedback-giver's phone that is not a phone number was
    stored as typed (nobody could call back); praise of a staff id nobody has was filed with
    no department (nobody told). Each is a 422 naming its field, and nothing is recorded."""
    relative = {"name": "陈静", "phone": "call me maybe"}
    refused = {
        "/v1/cases": {"description": "挂号排队太久", "patient": relative},
        "/v1/enquiries": {"channel": "phone", "question": "几点开门？",
                          "patient": {"name": "王五", "phone": "138😀0000"}},
        "/v1/feedback": {"kind": "suggestion", "text": "增加座椅", "patient": relative},
    }  # fmt: skip
    for path, body in refused.items():
        r = await http.post(path, json=body, headers=tokens["supervisor"])
        assert r.status_code == 422, (path, r.text)
        assert r.json()["errors"][0]["location"] == ["body", "patient", "phone"], r.text
    taken = await take(http, tokens["agent"], patient={"name": "王五", "phone": "137 0013 7000"})
    assert taken["patient"]["phone"] == "+8613700137000"  # as people write it: taken

    for staff_id in ("S-NOBODY", "S-AGENT\u200b-01", "Ｓ-ＡＧＥＮＴ-０１"):
        key = f"praise-{unique()}"
        body = {"kind": "praise", "text": "耐心", "staff_id": staff_id, "external_id": key}
        r = await http.post("/v1/feedback", json=body, headers=tokens["agent"])
        assert r.status_code == 422, (staff_id, r.text)
        error = r.json()["errors"][0]
        assert error["location"] == ["body", "staff_id"], r.text
        assert "not an active member of staff" in error["message"], r.text
        count = "SELECT count(*) FROM feedback WHERE external_id = $1"
        assert await query(stack_env, count, f"staff:S-AGENT-01:{key}") == 0
    praised = {"kind": "praise", "text": "耐心", "staff_id": "S-DOC-01"}
    r = await http.post("/v1/feedback", json=praised, headers=tokens["agent"])
    assert r.status_code == 201 and r.json()["department_code"] == "CARD", r.text


async def test_a_hand_over_to_another_department_records_its_new_supervisor(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """The new owner's department's supervisor takes over its supervision, and the written
    record says so, as a hand-back's does (the step's own line names only the owners)."""
    department, supervisor, _ = await supervisor_on_both_rosters(stack_env)
    enquiry = await take(http, tokens["agent"], channel="phone")
    number, before = enquiry["enquiry_number"], enquiry["supervisor_id"]
    r = await http.post(
        f"/v1/enquiries/{number}/handover",
        json={"to": supervisor, "reason": f"{department}的问题"},
        headers=tokens["agent"],
    )
    assert r.status_code == 200, r.text
    assert r.json()["supervisor_id"] == supervisor != before
    history = (await http.get(f"/v1/enquiries/{number}", headers=tokens["admin"])).json()["history"]
    assert [h["action"] for h in history] == ["taken", "handed_over", "supervisor_assigned"]
    assert history[2]["actor_id"] == "S-AGENT-01"
    assert history[2]["detail"] == {
        "from": before, "to": supervisor,
        "reason": "handed over: the supervisor is now the new owner's",
    }  # fmt: skip


async def test_a_member_made_inactive_may_not_take_an_enquiry_one_never_rostered_may(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """首问负责 makes the taker the owner, and a console session outlives a deactivation by
    hours: before, a member made inactive took an enquiry, owned it, and no hand-back ever ran
    for it. A doctor never put on the complaints roster takes one as before."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]

    async def saved(active: bool) -> None:
        member = StaffMemberSaved(staff_id=LEAVING, name="客服 离职", department_code="CS",
                                  role=StaffRole.AGENT, capacity=10, active=active)  # fmt: skip
        event = make_event("staff.member_saved", member, source="urn:test", subject=LEAVING,
                           time=datetime.now(UTC))  # fmt: skip
        await publish(bootstrap, topics.STAFF_ROSTER, [(LEAVING, encode(event))])

        async def consumed() -> bool:
            now = await query(stack_env, "SELECT active FROM staff WHERE staff_id = $1", LEAVING)
            return bool(now == active)

        await eventually(consumed, timeout=30)

    await saved(active=True)
    assert (await take(http, tokens["t-leaving"]))["owner_id"] == LEAVING
    await saved(active=False)
    refused = await http.post(
        "/v1/enquiries", json={"channel": "phone", "question": "挂号费怎么退？"},
        headers=tokens["t-leaving"],
    )  # fmt: skip
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"] == enquiry_cases.inactive_taker(LEAVING)
    owned = "SELECT count(*) FROM enquiries WHERE owner_id = $1 AND status = 'open'"
    assert await query(stack_env, owned, LEAVING) == 0  # the first one was handed back

    enquiry = await take(http, tokens["t-unrostered"], channel="phone")
    assert (enquiry["owner_id"], enquiry["owner_department"]) == (UNROSTERED, "CARD")


async def test_an_enquiry_becomes_a_complaint_keeping_its_history(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    enquiry = await take(
        http,
        tokens["agent"],
        channel="phone",
        question="上次挂号多收了费用，想问怎么退费",
        department={"code": "CS", "name": "客服中心"},
    )
    number = enquiry["enquiry_number"]
    await http.post(
        f"/v1/enquiries/{number}/handover",
        json={"to": "S-SUP-01", "reason": "患者要求投诉"},
        headers=tokens["agent"],
    )
    r = await http.post(
        f"/v1/enquiries/{number}/complaint",
        json={"note": "患者坚持投诉收费问题"},
        headers=tokens["supervisor"],
    )
    assert r.status_code == 201, r.text
    converted, case = r.json()["enquiry"], r.json()["case"]
    assert converted["status"] == "converted"
    assert converted["case_number"] == case["case_number"]
    assert case["category"] == "billing" and case["channel"] == "phone"
    assert case["patient"]["patient_id"] == enquiry["patient"]["patient_id"]

    audit = (
        await http.get(f"/v1/cases/{case['case_number']}/audit", headers=tokens["supervisor"])
    ).json()["audit"]
    assert [a["action"] for a in audit] == ["opened", "converted_from_enquiry"]
    carried = audit[1]["detail"]
    assert carried["enquiry_number"] == number and carried["taken_by"] == "S-AGENT-01"
    assert [h["action"] for h in carried["history"]] == ["taken", "handed_over"]
    assert carried["history"][1]["detail"]["reason"] == "患者要求投诉"
    history = (await http.get(f"/v1/enquiries/{number}", headers=tokens["supervisor"])).json()
    assert [h["action"] for h in history["history"]] == ["taken", "handed_over", "converted"]

    # Its clock stopped: no escalation, ever; a converted enquiry takes no further step.
    r = await http.post(
        f"/v1/enquiries/{number}/answer", json={"answer": "x"}, headers=tokens["supervisor"]
    )
    assert r.status_code == 409
    assert await types_of(stack_env, number, 3) == [
        "enquiry.taken",
        "enquiry.handed_over",
        "enquiry.converted",
    ]
    opened = await eventually(
        lambda: events_about(
            stack_env["KAFKA_BOOTSTRAP_SERVERS"], case["case_number"], "complaint.case_opened"
        ),
        timeout=30,
    )
    assert opened[0]["data"]["channel"] == "phone"


async def test_enquiries_are_seen_by_role_and_bad_requests_name_the_field(
    complaints, http, tokens
) -> None:  # type: ignore[no-untyped-def]
    enquiry = await take(http, tokens["agent"], channel="online")
    number = enquiry["enquiry_number"]
    assert enquiry["patient"]["masked"] is False
    # Another department's supervisor and a doctor neither read nor list it; admin reads only.
    for role in ("ward_supervisor", "doctor"):
        assert (await http.get(f"/v1/enquiries/{number}", headers=tokens[role])).status_code == 403
        listed = (await http.get("/v1/enquiries", headers=tokens[role])).json()["items"]
        assert number not in {e["enquiry_number"] for e in listed}
    admin = await http.get(f"/v1/enquiries/{number}", headers=tokens["admin"])
    assert admin.status_code == 200 and admin.json()["patient"]["masked"] is True
    r = await http.post(
        f"/v1/enquiries/{number}/answer", json={"answer": "x"}, headers=tokens["admin"]
    )
    assert r.status_code == 403
    assert (
        await http.post("/v1/enquiries", json={}, headers=tokens["integration"])
    ).status_code == 403
    mine = (await http.get("/v1/enquiries", headers=tokens["agent"])).json()["items"]
    assert number in {e["enquiry_number"] for e in mine}
    assert (await http.get("/v1/enquiries/ZX-NONE", headers=tokens["agent"])).status_code == 404

    bad = {
        "channel": {"channel": "fax", "question": "q"},
        "question": {"channel": "phone", "question": ""},
        "taken_at": {"channel": "phone", "question": "q", "taken_at": "2026-12-05T10:00:00"},
        "complex": {"channel": "phone", "question": "q", "complex": "maybe"},
        "surprise": {"channel": "phone", "question": "q", "surprise": 1},
    }
    for field, body in bad.items():
        r = await http.post("/v1/enquiries", json=body, headers=tokens["agent"])
        assert r.status_code == 422, (field, r.text)
        assert field in r.json()["errors"][0]["location"], (field, r.text)
    r = await http.get("/v1/enquiries", params={"status": "lost"}, headers=tokens["agent"])
    assert r.status_code == 422 and "status" in r.json()["errors"][0]["location"]


async def test_who_asked_without_a_hospital_id_is_shown_by_name_and_phone(
    complaints, http, tokens
) -> None:  # type: ignore[no-untyped-def]
    """A relative or a visitor has no patient id: the answer goes back to the name and phone
    they gave, so the owner sees them (operations masked); anonymous, nobody. Praise too."""
    relative = {"name": "周雨", "phone": "13912340000"}
    number = (await take(http, tokens["agent"], patient=relative))["enquiry_number"]
    owner = (await http.get(f"/v1/enquiries/{number}", headers=tokens["agent"])).json()
    assert owner["patient"] == {"patient_id": None, "name": "周雨", "phone": "+8613912340000",
                                "sms_opt_out": None, "masked": False}  # fmt: skip
    admin = (await http.get(f"/v1/enquiries/{number}", headers=tokens["admin"])).json()
    assert (admin["patient"]["phone"], admin["patient"]["masked"]) == ("+86139****0000", True)
    anonymous = await take(http, tokens["agent"], patient=None)
    assert anonymous["patient"] is None
    praise = {"kind": "praise", "text": "护士很耐心", "patient": relative}
    r = await http.post("/v1/feedback", json=praise, headers=tokens["agent"])
    assert r.status_code == 201, r.text
    assert r.json()["patient"]["name"] == "周雨"


# --- praise and suggestions --------------------------------------------------------------


async def test_praise_is_passed_to_the_praised_staff_members_department(
    complaints, notifications, http, tokens, stack_env, stack_config
) -> None:  # type: ignore[no-untyped-def]
    department, supervisor, phone = await supervisor_on_both_rosters(stack_env)
    r = await http.post(
        "/v1/feedback",
        json={
            "kind": "praise",
            "channel": "suggestion_box",
            "text": "感谢主管耐心解答",
            "category": "service_attitude",
            "staff_id": supervisor,
        },
        headers=tokens["integration"],
    )
    assert r.status_code == 201, r.text
    number = r.json()["feedback_number"]
    assert r.json().get("redacted") is True  # a hospital system records, but does not read

    received = await eventually(
        lambda: events_about(stack_env["KAFKA_BOOTSTRAP_SERVERS"], number), timeout=30
    )
    assert received[0]["type"] == "feedback.praise_received"
    assert received[0]["data"]["department_code"] == department  # from the roster
    assert received[0]["data"]["category"] == "service_attitude"
    assert "text" not in received[0]["data"]
    notices = await eventually(lambda: texts_to(stack_config, phone, number), timeout=30)
    assert len(notices) == 1 and "患者表扬" in notices[0]


async def test_a_retried_post_records_one_enquiry_and_one_piece_of_feedback(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """A POST sent again with its `external_id` (a timeout, a double click; here three copies,
    two of them at once) answers with what the first recorded: one enquiry with one owner and
    one clock, one piece of feedback, one event each. Another member of staff's id is their
    own: the same id from them records their own enquiry."""
    key = f"desk-retry-{unique()}"
    enquiry = {"channel": "phone", "question": "请问住院部探视时间？", "external_id": key}

    def post(path: str, body: dict[str, Any], role: str) -> Awaitable[httpx.Response]:
        return http.post(path, json=body, headers=tokens[role])

    answers = await asyncio.gather(*(post("/v1/enquiries", enquiry, "agent") for _ in range(2)))
    answers.append(await post("/v1/enquiries", enquiry, "agent"))
    assert sorted(a.status_code for a in answers) == [200, 200, 201], [a.text for a in answers]
    numbers = {a.json()["enquiry_number"] for a in answers}
    assert len(numbers) == 1
    others = await post("/v1/enquiries", enquiry, "doctor")
    assert others.status_code == 201 and others.json()["enquiry_number"] not in numbers
    taken = "SELECT count(*) FROM enquiries WHERE external_id LIKE '%' || $1"
    assert await query(stack_env, taken, key) == 2

    praise = {"kind": "praise", "text": "护士很耐心", "external_id": key}
    recorded = await asyncio.gather(
        *(post("/v1/feedback", praise, "integration") for _ in range(3))
    )
    assert sorted(r.status_code for r in recorded) == [200, 200, 201], [r.text for r in recorded]
    (feedback_number,) = {r.json()["feedback_number"] for r in recorded}
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    for subject in (*numbers, feedback_number):
        await eventually(lambda s=subject: events_about(bootstrap, s), timeout=30)
    (number,) = numbers
    assert [e["type"] for e in await events_about(bootstrap, number)] == ["enquiry.taken"]
    events = await events_about(bootstrap, feedback_number)
    assert [e["type"] for e in events] == ["feedback.praise_received"]


async def test_a_suggestion_gets_one_answer_and_an_outcome(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    r = await http.post(
        "/v1/feedback",
        json={
            "kind": "suggestion",
            "channel": "online",
            "text": "建议门诊增加自助缴费机",
            "category": "facilities",
            "department": {"code": "CS"},
        },
        headers=tokens["agent"],
    )
    assert r.status_code == 201, r.text
    number = r.json()["feedback_number"]
    assert r.json()["category"] == "facilities" and r.json()["outcome"] is None

    wrong = await http.post(
        f"/v1/feedback/{number}/answer",
        json={"answer": "谢谢", "outcome": "maybe"},
        headers=tokens["supervisor"],
    )
    assert wrong.status_code == 422 and "outcome" in wrong.json()["errors"][0]["location"]
    stranger = await http.post(
        f"/v1/feedback/{number}/answer",
        json={"answer": "谢谢", "outcome": "adopted"},
        headers=tokens["ward_supervisor"],
    )
    assert stranger.status_code == 403
    r = await http.post(
        f"/v1/feedback/{number}/answer",
        json={"answer": "已在一楼大厅增设两台", "outcome": "adopted"},
        headers=tokens["supervisor"],
    )
    assert r.status_code == 200, r.text
    assert (r.json()["outcome"], r.json()["answered_by"]) == ("adopted", "S-SUP-01")
    again = await http.post(
        f"/v1/feedback/{number}/answer",
        json={"answer": "再答", "outcome": "not_adopted"},
        headers=tokens["supervisor"],
    )
    assert again.status_code == 409
    read = await http.get(f"/v1/feedback/{number}", headers=tokens["agent"])  # who recorded it
    assert read.status_code == 200, read.text
    assert (read.json()["answer"], read.json()["outcome"]) == ("已在一楼大厅增设两台", "adopted")
    hidden = await http.get(f"/v1/feedback/{number}", headers=tokens["ward_supervisor"])
    assert hidden.status_code == 403 and number in hidden.json()["detail"]
    missing = await http.get("/v1/feedback/JY-19990101-000000", headers=tokens["admin"])
    assert missing.status_code == 404
    assert await types_of(stack_env, number, 2) == [
        "feedback.suggestion_received",
        "feedback.suggestion_answered",
    ]
    listed = (
        await http.get("/v1/feedback", params={"kind": "suggestion"}, headers=tokens["admin"])
    ).json()
    assert number in {f["feedback_number"] for f in listed["items"]}
    bad = await http.post(
        "/v1/feedback", json={"kind": "complaint", "text": "x"}, headers=tokens["agent"]
    )
    assert bad.status_code == 422 and "kind" in bad.json()["errors"][0]["location"]


# --- the KPIs -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def metrics(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    env = {"METRICS_STORE_REFRESH_INTERVAL_S": "0.3"}
    with running(stack_config, "metrics", env) as service:
        yield service


async def test_the_kpi_report_counts_enquiries_answered_in_time_and_the_feedback(
    complaints, metrics, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    department = {"code": f"K{unique()}", "name": "统计科"}
    asked = datetime.now(UTC) - timedelta(minutes=31)
    late = await take(http, tokens["agent"], taken_at=asked.isoformat(), department=department)
    in_time = await take(
        http, tokens["agent"], taken_at=asked.isoformat(), department=department, complex=True
    )
    converted = await take(http, tokens["agent"], channel="online", department=department)
    for enquiry in (late, in_time):
        r = await http.post(
            f"/v1/enquiries/{enquiry['enquiry_number']}/answer",
            json={"answer": "已答复"},
            headers=tokens["agent"],
        )
        assert r.status_code == 200, r.text
    r = await http.post(
        f"/v1/enquiries/{converted['enquiry_number']}/complaint", json={}, headers=tokens["agent"]
    )
    assert r.status_code == 201, r.text
    for kind, text in (
        ("praise", "护士很细心"),
        ("suggestion", "增加座椅"),
        ("suggestion", "延长开放时间"),
    ):
        body = {"kind": kind, "text": text, "department": department}
        r = await http.post("/v1/feedback", json=body, headers=tokens["agent"])
        assert r.status_code == 201, r.text
        number = r.json()["feedback_number"]
    answer = {"answer": "采纳", "outcome": "adopted"}
    r = await http.post(f"/v1/feedback/{number}/answer", json=answer, headers=tokens["agent"])
    assert r.status_code == 200, r.text

    # the enquiries were taken 31 minutes ago, the rest now: two local days just after midnight
    days = local_days(asked, datetime.now(UTC))
    expected = {
        "enquiry_answered_in_time_rate": (1, 2),
        "enquiry_answered_in_time_rate_onsite": (1, 2),
        "enquiry_answered_in_time_rate_phone": (0, 0),
        "enquiry_answered_in_time_rate_online": (0, 0),  # it became a complaint
        "praise_share": (1, 4),  # praise, two suggestions, the complaint
        "suggestion_share": (2, 4),
        "suggestion_adoption_rate": (1, 1),
    }
    headers = {"Authorization": f"Bearer {stack_env['TOKEN_ADMIN']}"}

    async def report() -> dict[str, tuple[int, ...]] | None:
        bodies = []
        async with httpx.AsyncClient(base_url=metrics.url, timeout=10) as client:
            for day in days:
                params = {
                    "period": "day",
                    "date": day.isoformat(),
                    "department": department["code"],
                }
                bodies.append((await client.get("/v1/kpi", params=params, headers=headers)).json())
        got = summed(
            {k["key"]: (k["numerator"], k["denominator"]) for k in body["kpis"]} for body in bodies
        )
        return got if all(got.get(k) == v for k, v in expected.items()) else None

    await eventually(report, timeout=60)
    monthly: list[dict[str, tuple[int, ...]]] = []
    async with httpx.AsyncClient(base_url=metrics.url, timeout=10) as client:
        for month in sorted({day.strftime("%Y-%m") for day in days}):
            r = await client.get("/v1/kpi/report.csv", params={"month": month}, headers=headers)
            rows = [line.split(",") for line in r.text.lstrip("\ufeff").splitlines()]
            wanted = ("enquiry_answered_in_time_rate", "praise_share")
            monthly.append(
                {
                    row[4]: (int(row[7]), int(row[8]))
                    for row in rows
                    if row[3] == department["code"] and row[4] in wanted
                }
            )
    mine = summed(monthly)
    assert mine["enquiry_answered_in_time_rate"] == (1, 2)
    assert mine["praise_share"] == (1, 4)


async def test_retention_removes_finished_enquiries_and_feedback_and_keeps_open_ones(
    complaints, http, tokens, stack_env
) -> None:  # type: ignore[no-untyped-def]
    from complaints.enquiry_timer import purge_enquiries_and_feedback

    answered = (await take(http, tokens["agent"], channel="phone"))["enquiry_number"]
    r = await http.post(
        f"/v1/enquiries/{answered}/answer", json={"answer": "已答复"}, headers=tokens["agent"]
    )
    assert r.status_code == 200, r.text
    still_open = (await take(http, tokens["agent"], channel="phone"))["enquiry_number"]
    numbers = {}
    for kind in ("praise", "suggestion"):
        body = {"kind": kind, "text": "谢谢", "department": {"code": "CS"}}
        r = await http.post("/v1/feedback", json=body, headers=tokens["agent"])
        numbers[kind] = r.json()["feedback_number"]
    pool = await asyncpg.create_pool(
        stack_env["DATABASE_URL"], server_settings={"search_path": "complaints"}
    )
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE enquiries SET taken_at = now() - interval '4 years',"
                " finished_at = CASE WHEN status = 'open' THEN NULL"
                " ELSE now() - interval '4 years' END WHERE enquiry_number = ANY($1::text[])",
                [answered, still_open],
            )
            await conn.execute(
                "UPDATE feedback SET received_at = now() - interval '4 years',"
                " finished_at = CASE WHEN kind = 'praise' THEN now() - interval '4 years' END"
                " WHERE feedback_number = ANY($1::text[])",
                list(numbers.values()),
            )
            answered_id = await conn.fetchval(
                "SELECT id FROM enquiries WHERE enquiry_number = $1", answered
            )
        removed = await purge_enquiries_and_feedback(
            pool, now=datetime.now(UTC), retention_days=3 * 365 + 1
        )
        assert removed >= 2
        async with pool.acquire() as conn:
            left = await conn.fetchval(
                "SELECT count(*) FROM enquiry_history WHERE enquiry_id = $1", answered_id
            )
            kept = await conn.fetch(
                "SELECT feedback_number FROM feedback WHERE feedback_number = ANY($1::text[])",
                list(numbers.values()),
            )
    finally:
        await pool.close()
    assert left == 0  # its history went with it
    assert [r["feedback_number"] for r in kept] == [numbers["suggestion"]]  # not answered yet
    admin = tokens["admin"]
    assert (await http.get(f"/v1/enquiries/{answered}", headers=admin)).status_code == 404
    assert (await http.get(f"/v1/enquiries/{still_open}", headers=admin)).status_code == 200
