"""The notifications service end to end through the real Kannel (bearerbox + smsbox +
fakesmsc), Kafka and PostgreSQL: a Chinese reminder reaches the fake SMSC and its delivery
receipt comes back; a real incoming 退订 opts the patient out; invalid numbers, the daily cap
and a death are handled; a gateway that cannot be reached is waited for, one that refuses
for now is failed at the cap; a crash between the gateway's acceptance and the database write
never sends the SMS twice."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_to_bytes

import asyncpg
import httpx
import pytest

import devstack
from devstack import kannel
from devstack.config import KANNEL_USERNAME
from followup.settings import DEFAULT_SEED_STAFF
from hospital_shared import topics
from hospital_shared.codec import encode
from hospital_shared.events import make_event
from hospital_shared.service_events.complaints import (
    CasePatient,
    ComplaintCaseChanged,
    ComplaintTimeLimitReached,
)
from hospital_shared.service_events.followup import StaffMemberSaved, StaffRole
from notifications.dispatcher import failpoint_after_accept_to
from notifications.segments import count_segments
from tests import factories
from tests.integration.services import RunningService, running
from tests.kafka_tools import eventually, json_values, publish, read_all

# Quiet hours off (start == end): these tests run at any hour; quiet hours are unit-tested.
BASE_ENV = {
    "NOTIFICATIONS_QUIET_HOURS_START": "00:00",
    "NOTIFICATIONS_QUIET_HOURS_END": "00:00",
    "NOTIFICATIONS_DISCHARGE_NOTICE_DELAY_MIN": "0",
    "NOTIFICATIONS_DISPATCH_INTERVAL_S": "0.2",
    "NOTIFICATIONS_SENDING_LEASE_S": "2",
    # staff notes at once (the digest of routine assignments: test_notifications_staff.py)
    "NOTIFICATIONS_DIGEST_CHANNELS": "[]",
    # A reminder 24 h before the visit, not the evening before: with "evening before" a
    # visit 16 h away is reminded now or at 18:00 today depending on the hour the tests
    # run. The evening-before rule is unit-tested (tests/notifications/test_policy.py).
    "NOTIFICATIONS_REMINDER_MODE": "lead_time",
    "NOTIFICATIONS_REMINDER_LEAD_H": "24",
    # no survey invitations: these tests count a patient's messages; the surveys by SMS link
    # are tested in test_survey_by_sms_link.py
    "NOTIFICATIONS_SURVEY_CONTACTS": "[]",
}
_GOT = re.compile(r"Got message \d+: <(\S+) (\S+) (\S+) (.*)>$")


@pytest.fixture(scope="module")
def notifications(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "notifications", dict(BASE_ENV)) as service:
        yield service


def restart(service: RunningService, **env: str) -> None:
    service.stop()
    service.start(**env)
    service.wait_ready()


def _bytes(logged: str) -> bytes:
    """fakesmsc logs a message's bytes form-encoded: %XX escapes, '+' for a space."""
    return unquote_to_bytes(logged.replace("+", "%20"))


def sms_received(stack_config: Any, marker: str) -> list[tuple[str, str]]:
    """(to, text) of every SMS fakesmsc received whose text contains `marker`; the parts of
    a concatenated SMS (UDH 05 00 03 ref total seq) are joined again."""
    found: list[tuple[str, str]] = []
    parts: dict[tuple[str, int], dict[int, bytes]] = {}
    for line in stack_config.operator_log.read_text(errors="replace").splitlines():
        match = _GOT.search(line)
        if not match:
            continue
        _, to, kind, rest = match.groups()
        if kind == "udh":
            udh_raw, _, payload = rest.split(" ", 2)
            udh = unquote_to_bytes(udh_raw)
            ref, total, seq = udh[3], udh[4], udh[5]
            got = parts.setdefault((to, ref), {})
            got[seq] = _bytes(payload)
            if len(got) < total:
                continue
            raw = b"".join(got[i] for i in sorted(got))
            del parts[(to, ref)]
            text = raw.decode("utf-16-be", errors="replace")
        else:
            raw = _bytes(rest)
            text = raw.decode("utf-16-be" if kind == "ucs-2" else "utf-8", errors="replace")
        if marker in text:
            found.append((to, text))
    return found


def unique() -> tuple[int, str]:
    """A patient number and a department name no other test uses (it appears in the SMS)."""
    n = uuid.uuid4().int % 10**8
    return n, f"测试{n}科"


def phone_for(n: int) -> str:
    return f"139{n:08d}"


async def messages(
    service: RunningService, stack_env: dict[str, str], patient_id: str
) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
        resp = await client.get(
            "/v1/messages",
            params={"patient_id": patient_id},
            headers={"Authorization": f"Bearer {stack_env['TOKEN_SUPERVISOR']}"},
        )
    resp.raise_for_status()
    return resp.json()["items"]  # type: ignore[no-any-return]


async def send_events(stack_env: dict[str, str], topic: str, *events: dict[str, Any]) -> None:
    records = [(e.get("subject"), factories.to_bytes(e)) for e in events]
    await publish(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topic, records)


def reminder_event(
    n: int, dept: str, *, hours_ahead: float = 16, phone: str | None = None
) -> dict[str, Any]:
    appointment = datetime.now(UTC) + timedelta(hours=hours_ahead)
    return factories.registration(
        n,
        patient=factories.patient(n, phone=phone or phone_for(n)),
        department={"code": "CARD", "name": dept},
        appointment_at=appointment.isoformat(),
    )


def discharge_event(
    n: int, dept: str, *, disposition: str = "home", admission: str | None = None
) -> dict[str, Any]:
    event = factories.discharge(
        n,
        patient=factories.patient(n, phone=phone_for(n)),
        department={"code": "CARD", "name": dept},
        discharged_at=datetime.now(UTC).isoformat(),
        disposition=disposition,
    )
    if admission:
        event["data"]["admission_id"] = admission
    return event


def with_status(status: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["status"] == status]


async def consumed_up_to_here(
    service: RunningService, stack_env: dict[str, str], topic: str, key: str | None
) -> str:
    """Proof that the service has consumed every event sent before on `key`'s partition of
    `topic`, and that its dispatcher has sent what was due before: a marker discharge home (of
    another patient) sent now with that key has had its care notice delivered. Returns the
    marker's department, which is in its SMS."""
    n, dept = unique()
    marker = discharge_event(n, dept) if topic == topics.DISCHARGES else case_opened_marker(n)
    marker["subject"] = key
    await send_events(stack_env, topic, marker)
    await eventually(lambda: _status_of(service, stack_env, f"P{n:06d}", "delivered"), timeout=30)
    return dept


def case_opened_marker(n: int) -> dict[str, Any]:
    """A complaint case opened for patient `P{n}`, who gets an acknowledgement."""
    now = datetime.now(UTC)
    opened = ComplaintCaseChanged(
        case_number=f"TS-M{n}", status="received", channel="phone", category="waiting_time",
        category_source="submitted", priority="normal", serious=False, complex=False,
        department_code="CS", patient=CasePatient(patient_id=f"P{n:06d}", phone=phone_for(n)),
        promised_response_by=now + timedelta(hours=24), occurred_at=now,
    )  # fmt: skip
    event = make_event("complaint.case_opened", opened, source="urn:test", subject="x", time=now)
    return json.loads(encode(event))  # type: ignore[no-any-return]


async def test_a_chinese_reminder_reaches_the_smsc_and_its_receipt_marks_it_delivered(
    notifications, stack_env, stack_config
) -> None:  # type: ignore[no-untyped-def]
    n, dept = unique()
    pid = f"P{n:06d}"
    await send_events(stack_env, topics.REGISTRATIONS, reminder_event(n, dept))

    async def delivered() -> list[dict[str, Any]]:
        return with_status("delivered", await messages(notifications, stack_env, pid))

    (msg,) = await eventually(delivered, timeout=30)
    assert msg["template"] == "appointment_reminder"
    received = sms_received(stack_config, dept)
    assert received == [(f"+86{phone_for(n)}", msg["body"])]
    assert "预约" in msg["body"]
    assert (msg["encoding"], msg["segments"]) == ("ucs2", count_segments(msg["body"]).segments)

    async def lifecycle() -> list[str]:
        events = json_values(
            await read_all(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.NOTIFICATIONS)
        )
        mine = [e for e in events if e["data"]["message_id"] == msg["id"]]
        assert all(phone_for(n) not in str(e) for e in mine)  # no phone numbers on the bus
        return sorted(e["type"] for e in mine) if len(mine) >= 2 else []

    assert await eventually(lifecycle, timeout=20) == ["sms.delivered", "sms.submitted"]


@pytest.fixture
def smpp_operator(stack_config) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """Kannel with the SMPP SMSC simulator as its operator (what DEVSTACK_SMSC=smpp runs:
    several transceiver binds, receipts as deliver_sm) for one test, then the session's
    operator again; the notifications service keeps its sendsms URL throughout."""
    smpp = dataclasses.replace(stack_config, smsc="smpp")
    if stack_config.smsc == "smpp":
        yield smpp
        return
    kannel.stop(stack_config)
    kannel.up(smpp)
    try:
        yield smpp
    finally:
        kannel.stop(smpp)
        kannel.up(stack_config)


async def test_sms_go_over_smpp_to_the_operator_once_and_its_receipts_mark_them_delivered(
    notifications, stack_env, smpp_operator
) -> None:  # type: ignore[no-untyped-def]
    """Kannel -> SMPP (submit_sm on one of several binds) -> the simulator, whose receipt
    (deliver_sm "id:.. stat:DELIVRD") Kannel turns into DLR 1 for the notifications service:
    a reminder and a discharge notice of two parts each reach the operator once, whole."""
    reminded, discharged = unique(), unique()
    await send_events(stack_env, topics.REGISTRATIONS, reminder_event(*reminded))
    await send_events(stack_env, topics.DISCHARGES, discharge_event(*discharged))
    for n, dept in (reminded, discharged):
        delivered = functools.partial(
            _status_of, notifications, stack_env, f"P{n:06d}", "delivered"
        )
        (msg,) = await eventually(delivered, timeout=30)
        assert sms_received(smpp_operator, dept) == [(f"+86{phone_for(n)}", msg["body"])]
        access = smpp_operator.kannel_access_log.read_text(errors="replace")
        assert f"Sent SMS [SMSC:smpp] [SVC:{KANNEL_USERNAME}] [ACT:{msg['id']}]" in access
    assert msg["segments"] >= 2  # the discharge notice went as a concatenated SMS


async def test_an_incoming_tuiding_opts_the_patient_out(
    notifications, stack_env, stack_config
) -> None:  # type: ignore[no-untyped-def]
    n, dept = unique()
    pid = f"P{n:06d}"
    # the visit is in three days: the reminder waits until 24 h before it
    await send_events(stack_env, topics.REGISTRATIONS, reminder_event(n, dept, hours_ahead=72))

    async def pending() -> list[dict[str, Any]]:
        return with_status("pending", await messages(notifications, stack_env, pid))

    (waiting,) = await eventually(pending, timeout=30)
    assert waiting["planned_for"] is not None
    # the patient's handset answers 退订 in UCS-2, through fakesmsc -> bearerbox -> smsbox
    devstack.inject_mo(stack_config, phone_for(n), "95000", "退订", ucs2=True)

    async def suppressed() -> list[dict[str, Any]]:
        return with_status("suppressed", await messages(notifications, stack_env, pid))

    (msg,) = await eventually(suppressed, timeout=30)
    assert msg["id"] == waiting["id"] and msg["status_reason"] == "opted_out"
    # a later message for the same number is not sent either
    await send_events(stack_env, topics.DISCHARGES, discharge_event(n, dept))
    rows = await eventually(lambda: _two(notifications, stack_env, pid, "suppressed"), timeout=30)
    assert {r["template"] for r in rows} == {"appointment_reminder", "discharge_care_notice"}
    assert sms_received(stack_config, dept) == []


async def test_a_start_reply_lifts_only_the_opt_outs_made_by_reply_not_those_staff_recorded(
    notifications, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """START (订阅) lifts what a reply did: an opt-out by reply from that number. An opt-out a
    member of staff recorded (the patient asked at the desk or on a call, for the number or
    for one patient) is lifted by a supervisor, not by whoever holds a shared family phone.
    The traditional 退訂 is a reply opt-out as 退订 is."""
    n, _ = unique()
    phone = phone_for(n)
    agent = {"Authorization": f"Bearer {stack_env['TOKEN_AGENT']}"}
    async with httpx.AsyncClient(base_url=notifications.url, timeout=5) as client:

        async def replied(text: str) -> None:
            reply = await client.get(
                "/v1/sms/inbound", params={"from": f"+86{phone}", "text": text}
            )
            assert reply.status_code == 200, reply.text

        await replied("退訂")
        for body in ({"phone": phone, "reason": "asked at the desk"},
                     {"phone": phone, "patient_id": f"P{n:06d}", "reason": "asked on a call"}):  # fmt: skip
            recorded = await client.post("/v1/opt-outs", json=body, headers=agent)
            assert recorded.status_code == 201, recorded.text
        await replied("START")

    listed = await as_role(notifications, stack_env, "SUPERVISOR", "/v1/opt-outs", phone=phone)
    assert listed.status_code == 200, listed.text
    by_source = sorted((o["source"], o["revoked_at"] is None) for o in listed.json()["items"])
    # the reply's own opt-out lifted; both of the staff's still in force
    assert by_source == [("api", True), ("api", True), ("sms_reply", False)], by_source


async def _two(
    service: RunningService, stack_env: dict[str, str], pid: str, status: str
) -> list[dict[str, Any]]:
    rows = with_status(status, await messages(service, stack_env, pid))
    return rows if len(rows) >= 2 else []


async def test_an_invalid_number_is_failed_with_the_reason(notifications, stack_env) -> None:  # type: ignore[no-untyped-def]
    n, dept = unique()
    pid = f"P{n:06d}"
    await send_events(stack_env, topics.REGISTRATIONS, reminder_event(n, dept, phone="12345"))

    async def failed() -> list[dict[str, Any]]:
        return with_status("failed", await messages(notifications, stack_env, pid))

    (msg,) = await eventually(failed, timeout=30)
    assert msg["status_reason"].startswith("invalid_phone")


async def test_the_daily_cap_defers_the_fourth_message_to_tomorrow(
    notifications, stack_env
) -> None:  # type: ignore[no-untyped-def]
    n, dept = unique()
    pid = f"P{n:06d}"
    events = [discharge_event(n, dept, admission=f"A{n}-{i}") for i in range(4)]
    await send_events(stack_env, topics.DISCHARGES, *events)

    async def settled() -> list[dict[str, Any]]:
        rows = await messages(notifications, stack_env, pid)
        sent = [r for r in rows if r["status"] in ("submitted", "delivered")]
        capped = [r for r in rows if r["deferred_reason"] == "daily_cap"]
        return rows if len(sent) == 3 and len(capped) == 1 else []

    rows = await eventually(settled, timeout=30)
    (capped,) = [r for r in rows if r["deferred_reason"] == "daily_cap"]
    assert capped["status"] == "pending"
    planned = datetime.fromisoformat(capped["planned_for"])
    assert planned > datetime.now(UTC) + timedelta(minutes=1)


async def test_a_death_withdraws_the_reminder_and_sends_no_care_notice(
    notifications, stack_env, stack_config
) -> None:  # type: ignore[no-untyped-def]
    n, dept = unique()
    pid = f"P{n:06d}"
    await send_events(stack_env, topics.REGISTRATIONS, reminder_event(n, dept, hours_ahead=72))
    await eventually(lambda: _status_of(notifications, stack_env, pid, "pending"), timeout=30)
    await send_events(
        stack_env, topics.DISCHARGES, discharge_event(n, dept, disposition="deceased")
    )
    (msg,) = await eventually(
        lambda: _status_of(notifications, stack_env, pid, "withdrawn"), timeout=30
    )
    assert msg["status_reason"] == "patient_deceased"
    # a transfer, too, gets no care notice; neither reaches the SMSC
    m, dept2 = unique()
    transferred = discharge_event(m, dept2, disposition="transferred")
    await send_events(stack_env, topics.DISCHARGES, transferred)
    await consumed_up_to_here(notifications, stack_env, topics.DISCHARGES, transferred["subject"])
    assert await messages(notifications, stack_env, pid) == [msg]
    assert await messages(notifications, stack_env, f"P{m:06d}") == []
    assert sms_received(stack_config, dept) == sms_received(stack_config, dept2) == []


async def _status_of(
    service: RunningService, stack_env: dict[str, str], pid: str, status: str
) -> list[dict[str, Any]]:
    return with_status(status, await messages(service, stack_env, pid))


async def staff_known(stack_env: dict[str, str], staff_id: str) -> bool:
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:
        found = await conn.fetchval(
            "SELECT count(*) FROM notifications.staff WHERE staff_id = $1", staff_id
        )
    finally:
        await conn.close()
    return bool(found)


async def test_a_gateway_refusing_for_now_is_retried_then_failed_at_the_cap(
    notifications, stack_env, stack_config
) -> None:  # type: ignore[no-untyped-def]
    """Kannel answers, with an error that may pass (its 403 to wrong credentials): tried
    `send_max_attempts` times, then failed. (A gateway that cannot be reached is waited for
    until the message expires: test_notifications_kannel_outage.py.)"""
    restart(
        notifications,
        NOTIFICATIONS_KANNEL_PASSWORD="not-the-password",
        NOTIFICATIONS_SEND_RETRY_INITIAL_S="0.5",
        NOTIFICATIONS_SEND_MAX_ATTEMPTS="3",
    )
    try:
        n, dept = unique()
        await send_events(stack_env, topics.DISCHARGES, discharge_event(n, dept))
        (failed,) = await eventually(
            lambda: _status_of(notifications, stack_env, f"P{n:06d}", "failed"), timeout=30
        )
    finally:
        restart(notifications)
    assert failed["attempts"] == 3
    assert failed["status_reason"].startswith(
        "gateway unavailable after 3 answered errors (3 attempts): HTTP 403"
    )
    assert sms_received(stack_config, dept) == []


async def test_paused_dispatch_holds_a_due_sms_and_sends_it_once_when_resumed(
    notifications, stack_env, stack_config
) -> None:  # type: ignore[no-untyped-def]
    restart(notifications, NOTIFICATIONS_SMS_DISPATCH_PAUSED="true")
    async with httpx.AsyncClient(base_url=notifications.url, timeout=5) as client:
        exposed = (await client.get("/metrics")).text
    assert "notifications_sms_dispatch_paused 1.0" in exposed
    n, dept = unique()
    pid = f"P{n:06d}"
    await send_events(stack_env, topics.DISCHARGES, discharge_event(n, dept))
    (held,) = await eventually(
        lambda: _status_of(notifications, stack_env, pid, "pending"), timeout=30
    )
    # The care notice is due now; ten dispatch intervals later it is still waiting, untouched.
    await asyncio.sleep(2)
    (still,) = await _status_of(notifications, stack_env, pid, "pending")
    assert (still["attempts"], still["deferred_reason"]) == (0, None)
    assert sms_received(stack_config, dept) == []
    async with httpx.AsyncClient(base_url=notifications.url, timeout=5) as client:
        exposed = (await client.get("/metrics")).text
    # Counted while paused (the reconciler's gauges were never set): what waits for a staff
    # channel's server (whatever earlier modules left); no SMS waits for the gateway, it is
    # held (README, "SMS gateway and dispatcher").
    assert '\nnotifications_staff_waiting_for_server{channel="email"} ' in exposed
    assert "\nnotifications_sms_waiting_for_gateway 0.0\n" in exposed
    restart(notifications)  # resumed
    (msg,) = await eventually(
        lambda: _status_of(notifications, stack_env, pid, "delivered"), timeout=30
    )
    assert msg["id"] == held["id"]
    assert len(sms_received(stack_config, dept)) == 1


async def test_a_crash_after_the_gateway_accepted_never_sends_twice(
    notifications, stack_env, stack_config
) -> None:  # type: ignore[no-untyped-def]
    n, dept = unique()
    notifications.stop()
    # Killed on this patient's SMS only: one an earlier test left due would kill it first.
    kill = f"{failpoint_after_accept_to('+86' + phone_for(n))}=kill"
    notifications.start(**BASE_ENV, HOSPITAL_FAILPOINTS=kill)
    notifications.wait_ready()
    pid = f"P{n:06d}"
    await send_events(stack_env, topics.DISCHARGES, discharge_event(n, dept))
    assert await asyncio.to_thread(notifications.wait_exit, 60) == -9  # killed mid-send
    # Kannel accepted it before the kill, so the operator gets it (Kannel delivers on its own).
    await eventually(lambda: len(sms_received(stack_config, dept)) == 1, timeout=30)

    notifications.start(**BASE_ENV)
    notifications.wait_ready()
    # not re-sent: Kannel's log shows it sent, and smsbox brings the receipt it could not
    # deliver while the service was down (test_notifications_gateway_faults.py)
    (msg,) = await eventually(
        lambda: _status_of(notifications, stack_env, pid, "delivered"), timeout=40
    )
    await consumed_up_to_here(notifications, stack_env, topics.DISCHARGES, pid)
    assert len(sms_received(stack_config, dept)) == 1

    async with httpx.AsyncClient(base_url=notifications.url, timeout=5) as client:
        agent = await client.post(
            f"/v1/messages/{msg['id']}/resend",
            headers={"Authorization": f"Bearer {stack_env['TOKEN_AGENT']}"},
        )
        assert agent.status_code == 403
        resp = await client.post(
            f"/v1/messages/{msg['id']}/resend",
            headers={"Authorization": f"Bearer {stack_env['TOKEN_SUPERVISOR']}"},
        )
    assert resp.status_code == 409, resp.text
    assert len(sms_received(stack_config, dept)) == 1


async def test_a_complaint_is_acknowledged_and_its_staff_are_told(
    notifications, stack_env, stack_config
) -> None:  # type: ignore[no-untyped-def]
    n, _ = unique()
    dept = f"D{n}"
    now = datetime.now(UTC)
    supervisor = StaffMemberSaved(
        staff_id=f"S-SUP-{n}",
        name="主管",
        department_code=dept,
        role=StaffRole.SUPERVISOR,
        capacity=10,
        phone=phone_for(n + 1),
    )
    agent = StaffMemberSaved(
        staff_id="S-AGENT-01",
        name="客服",
        department_code=dept,
        role=StaffRole.AGENT,
        capacity=10,
        phone=phone_for(n + 2),
    )
    case_number = f"TS-{n}"
    opened = ComplaintCaseChanged(
        case_number=case_number,
        status="received",
        channel="phone",
        category="waiting_time",
        category_source="submitted",
        priority="normal",
        serious=False,
        complex=False,
        department_code=dept,
        assignee_id="S-AGENT-01",
        patient=CasePatient(patient_id=f"P{n:06d}", phone=phone_for(n)),
        promised_response_by=now + timedelta(hours=24),
        occurred_at=now,
    )
    breach = ComplaintTimeLimitReached(
        case_number=case_number,
        limit="first_response",
        level="breach",
        cycle=1,
        starts_at=now - timedelta(hours=24),
        due_at=now,
        status="acknowledged",
        channel="phone",
        category="waiting_time",
        priority="normal",
        department_code=dept,
        supervisor_department=dept,
        occurred_at=now,
    )
    roster = [
        make_event("staff.member_saved", s, source="urn:test", subject=s.staff_id, time=now)
        for s in (supervisor, agent)
    ]
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        topics.STAFF_ROSTER,
        [(e.subject, encode(e)) for e in roster],
    )
    # The roster first: the breach goes to the department's supervisor.
    await eventually(lambda: staff_known(stack_env, supervisor.staff_id), timeout=30)
    cases = [
        make_event(
            "complaint.case_opened", opened, source="urn:test", subject=case_number, time=now
        ),
        make_event(
            "complaint.time_limit_breached",
            breach,
            source="urn:test",
            subject=case_number,
            time=now,
        ),
    ]
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        topics.COMPLAINT_CASES,
        [(case_number, encode(e)) for e in cases],
    )

    (ack,) = await eventually(
        lambda: _status_of(notifications, stack_env, f"P{n:06d}", "delivered"), timeout=30
    )
    assert ack["template"] == "complaint_acknowledgement" and case_number in ack["body"]
    # patient, handler, supervisor: the three SMS reach the operator independently
    received = await eventually(
        lambda: found if len(found := sms_received(stack_config, case_number)) >= 3 else None,
        timeout=30,
    )
    await consumed_up_to_here(notifications, stack_env, topics.COMPLAINT_CASES, case_number)
    assert len(sms_received(stack_config, case_number)) == len(received) == 3

    async with httpx.AsyncClient(base_url=notifications.url, timeout=5) as client:
        inbox = await client.get(
            "/v1/inbox", headers={"Authorization": f"Bearer {stack_env['TOKEN_AGENT']}"}
        )
        sup = await client.get(
            "/v1/messages",
            params={"staff_id": f"S-SUP-{n}"},
            headers={"Authorization": f"Bearer {stack_env['TOKEN_SUPERVISOR']}"},
        )
        other = await client.get(
            "/v1/messages",
            params={"staff_id": f"S-SUP-{n}"},
            headers={"Authorization": f"Bearer {stack_env['TOKEN_AGENT']}"},
        )
    mine = [m for m in inbox.json()["items"] if case_number in m["body"]]
    assert [m["template"] for m in mine] == ["staff_case_assigned"]
    # the shared test stack's own alerts (ServiceDown of a service another test stopped, the
    # console no test runs) may reach this supervisor, on duty in the new department too
    cases = [m for m in sup.json()["items"] if not m["template"].startswith("staff_monitoring")]
    assert {(m["template"], m["channel"], m["urgent"]) for m in cases} == {
        ("staff_case_time_limit_breach", "sms", True),
        ("staff_case_time_limit_breach", "inbox", True),
    }
    assert other.status_code == 403
    # The desk's agent back to the desk (CS) on the shared roster topic: later tests' desk
    # cases go to S-AGENT-01, and this test had moved them to its own department.
    desk = next(s for s in DEFAULT_SEED_STAFF if s["staff_id"] == "S-AGENT-01")
    back = StaffMemberSaved.model_validate(
        {k: desk[k] for k in StaffMemberSaved.model_fields if k in desk}
    )
    event = make_event(
        "staff.member_saved", back, source="urn:test", subject=back.staff_id, time=now
    )
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.STAFF_ROSTER, [(back.staff_id, encode(event))]
    )


async def as_role(
    service: RunningService, stack_env: dict[str, str], role: str, path: str, **params: str
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
        return await client.get(
            path, params=params, headers={"Authorization": f"Bearer {stack_env[f'TOKEN_{role}']}"}
        )


async def test_a_patients_messages_are_for_supervisors_and_a_complaint_only_for_the_desk(
    notifications, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """A patient with a visit reminder and a complaint acknowledgement. Agents and doctors
    may not list the patient's messages, nor read one by id; the desk's supervisor and
    operations see both; the cardiology ward's supervisor sees the reminder, and of the
    acknowledgement only that a patient notice exists: no template name, text or case."""
    n, dept = unique()
    pid, case_number = f"P{n:06d}", f"TS-{n}"
    now = datetime.now(UTC)
    opened = ComplaintCaseChanged(
        case_number=case_number, status="received", channel="phone", category="billing",
        category_source="submitted", priority="normal", serious=False, complex=False,
        department_code="CARD", patient=CasePatient(patient_id=pid, phone=phone_for(n)),
        promised_response_by=now + timedelta(hours=24), occurred_at=now,
    )  # fmt: skip
    await send_events(stack_env, topics.REGISTRATIONS, reminder_event(n, dept))
    event = make_event(
        "complaint.case_opened", opened, source="urn:test", subject=case_number, time=now
    )
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.COMPLAINT_CASES, [(pid, encode(event))]
    )

    async def both() -> dict[str, dict[str, Any]] | None:
        found = {m["template"]: m for m in await messages(notifications, stack_env, pid)}
        return found if len(found) == 2 else None

    desk = await eventually(both, timeout=30)
    assert set(desk) == {"appointment_reminder", "complaint_acknowledgement"}
    ack = desk["complaint_acknowledgement"]
    assert case_number in ack["body"]

    for role in ("AGENT", "DOCTOR"):
        listed = await as_role(notifications, stack_env, role, "/v1/messages", patient_id=pid)
        assert listed.status_code == 403, listed.text
        assert "supervisors" in listed.json()["detail"]
        one = await as_role(notifications, stack_env, role, f"/v1/messages/{ack['id']}")
        assert one.status_code == 403, one.text

    ward = await as_role(
        notifications, stack_env, "WARD_SUPERVISOR", "/v1/messages", patient_id=pid
    )
    assert ward.status_code == 200, ward.text
    seen = {m["template"]: m for m in ward.json()["items"]}
    assert set(seen) == {"appointment_reminder", "patient_notice"}
    assert seen["appointment_reminder"]["body"]
    assert seen["patient_notice"]["body"] is None and seen["patient_notice"]["id"] == ack["id"]
    assert "complaint" not in ward.text and case_number not in ward.text
    one = await as_role(notifications, stack_env, "WARD_SUPERVISOR", f"/v1/messages/{ack['id']}")
    assert one.json()["template"] == "patient_notice" and one.json()["body"] is None

    admin = await as_role(notifications, stack_env, "ADMIN", f"/v1/messages/{ack['id']}")
    assert admin.json()["template"] == "complaint_acknowledgement"
    assert case_number in admin.json()["body"]

    # Page by page (keyset on created_at and id): one message a page, the newest first, then
    # the other, then no further link; the same two as the whole list.
    first = (await as_role(notifications, stack_env, "ADMIN", "/v1/messages", patient_id=pid,
                           limit="1")).json()  # fmt: skip
    cursor = first["next"].split("cursor=")[1].split("&")[0]
    second = (await as_role(notifications, stack_env, "ADMIN", "/v1/messages", patient_id=pid,
                            limit="1", cursor=cursor)).json()  # fmt: skip
    whole = (
        await as_role(notifications, stack_env, "ADMIN", "/v1/messages", patient_id=pid)
    ).json()
    assert [m["id"] for m in first["items"] + second["items"]] == [m["id"] for m in whole["items"]]
    assert len(whole["items"]) == 2 and second["next"] is None


async def test_an_agent_records_an_opt_out_but_only_supervisors_read_a_patients_opt_outs(
    notifications, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """An agent on a call records the patient's wish for no more SMS; the list of a patient's
    opt-outs (when and why) is their history, read by supervisors and operations only, like
    their messages. Before, any agent or doctor could list any patient's opt-outs."""
    n, _ = unique()
    pid = f"P{n:06d}"
    async with httpx.AsyncClient(base_url=notifications.url, timeout=5) as client:
        recorded = await client.post(
            "/v1/opt-outs",
            json={"patient_id": pid, "reason": "asked on the follow-up call"},
            headers={"Authorization": f"Bearer {stack_env['TOKEN_AGENT']}"},
        )
    assert recorded.status_code == 201, recorded.text

    for role in ("AGENT", "DOCTOR"):
        listed = await as_role(notifications, stack_env, role, "/v1/opt-outs", patient_id=pid)
        assert listed.status_code == 403, listed.text
        assert "supervisors" in listed.json()["detail"]
        assert pid not in listed.text
        by_phone = await as_role(notifications, stack_env, role, "/v1/opt-outs", phone=phone_for(n))
        assert by_phone.status_code == 403, by_phone.text

    for role in ("SUPERVISOR", "WARD_SUPERVISOR", "ADMIN"):
        listed = await as_role(notifications, stack_env, role, "/v1/opt-outs", patient_id=pid)
        assert listed.status_code == 200, listed.text
        listed_ids = [(o["id"], o["patient_id"]) for o in listed.json()["items"]]
        assert listed_ids == [(recorded.json()["id"], pid)]
