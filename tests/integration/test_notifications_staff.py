"""Staff notifications beyond SMS, end to end: email to a real SMTP server (aiosmtpd) and
WeCom / DingTalk robot posts to a local HTTP server, chosen per staff member and per
department; a breach goes at once, routine assignments wait for ONE digest per staff member
and slot, built once even by several instances (with an injectable clock)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from hospital_shared import topics
from hospital_shared.codec import encode
from hospital_shared.events import Contract, make_event
from hospital_shared.service_events.complaints import ComplaintTimeLimitReached
from hospital_shared.service_events.followup import (
    FollowUpTaskAssigned,
    FollowUpTaskOverdue,
    FollowUpTaskWithdrawn,
    StaffMemberSaved,
    StaffRole,
)
from hospital_shared.vocabulary import RENAMED_EVENT_TYPES, EventName
from notifications import sending
from notifications.channels import SmtpSender, StaffNote
from notifications.digest import DigestJob
from notifications.domain import QuietHours
from notifications.providers import Outcome
from notifications.settings import Settings
from notifications.staff_dispatcher import StaffDispatcher
from notifications.staff_policy import StaffRules
from tests.integration.capture_servers import RobotSink, SmtpSink
from tests.integration.schemas import new_schema
from tests.integration.services import RunningService, running
from tests.kafka_tools import eventually, publish

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def robot() -> Iterator[RobotSink]:
    sink = RobotSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def notifications(stack_config, stack_env, smtp) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    env = {
        "NOTIFICATIONS_QUIET_HOURS_START": "00:00",
        "NOTIFICATIONS_QUIET_HOURS_END": "00:00",
        "NOTIFICATIONS_DISPATCH_INTERVAL_S": "0.2",
        "NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "NOTIFICATIONS_SMTP_PORT": str(smtp.port),
        "NOTIFICATIONS_EMAIL_FROM": "notifications@hospital.example",
    }
    with running(stack_config, "notifications", env) as service:
        yield service


def unique() -> int:
    return uuid.uuid4().int % 10**8


def member(staff_id: str, dept: str, role: StaffRole, n: int) -> StaffMemberSaved:
    return StaffMemberSaved(
        staff_id=staff_id,
        name="测试员工",
        department_code=dept,
        role=role,
        capacity=10,
        phone=f"138{n:08d}",
        email=f"{staff_id.lower()}@hospital.example",
    )


async def send(stack_env: dict[str, str], topic: str, *items: tuple[str, str, Contract]) -> None:
    now = datetime.now(UTC)
    events = [make_event(t, d, source="urn:test", subject=k, time=now) for t, k, d in items]
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"], topic, [(e.subject, encode(e)) for e in events]
    )


async def send_as_before_the_rename(
    stack_env: dict[str, str], key: str, overdue: FollowUpTaskOverdue
) -> None:
    """`overdue` as the follow-up service of the previous release published it: the type's
    old name (`RENAMED_EVENT_TYPES`) and the dataschema that went with it."""
    new = make_event(
        EventName.TASK_OVERDUE, overdue, source="urn:test", subject=key, time=datetime.now(UTC)
    )
    doc = json.loads(encode(new))
    doc["type"] = old = "followup.task.overdue"
    doc["dataschema"] = f"urn:hospital:event-schema:{old}"
    assert RENAMED_EVENT_TYPES[old] == EventName.TASK_OVERDUE
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        topics.FOLLOWUP_TASKS,
        [(key, json.dumps(doc).encode())],
    )


async def api(
    service: RunningService, stack_env: dict[str, str], method: str, path: str, **kw: Any
) -> httpx.Response:
    token = stack_env[kw.pop("token", "TOKEN_SUPERVISOR")]
    async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
        return await client.request(
            method, path, headers={"Authorization": f"Bearer {token}"}, **kw
        )


async def notes_of(service: RunningService, stack_env: dict[str, str], staff_id: str) -> list[Any]:
    resp = await api(service, stack_env, "GET", "/v1/messages", params={"staff_id": staff_id})
    resp.raise_for_status()
    return resp.json()["items"]  # type: ignore[no-any-return]


async def on_roster(service: RunningService, stack_env: dict[str, str], staff_id: str) -> bool:
    resp = await api(service, stack_env, "GET", f"/v1/staff/{staff_id}/channels")
    return bool(resp.json()["email_on_file"])


async def test_a_breach_reaches_the_supervisor_at_once_by_email_and_the_department_robot(
    notifications, stack_env, smtp, robot
) -> None:  # type: ignore[no-untyped-def]
    n = unique()
    dept, sup = f"D{n}", f"S-SUP-{n}"
    hook = await api(
        notifications,
        stack_env,
        "PUT",
        "/v1/webhooks",
        json={
            "department_code": dept,
            "flavour": "wecom",
            "url": f"{robot.url}/wecom/{n}?key=K{n}",
        },
    )
    assert hook.status_code == 201, hook.text
    assert hook.json()["url"].endswith(f"/wecom/{n}?…")  # the robot's key is not shown
    supervisor = member(sup, dept, StaffRole.SUPERVISOR, n)
    await send(stack_env, topics.STAFF_ROSTER, ("staff.member_saved", sup, supervisor))
    await eventually(lambda: on_roster(notifications, stack_env, sup), timeout=30)

    await send(stack_env, topics.COMPLAINT_CASES, breach_for(n, dept))

    (mail,) = await eventually(lambda: smtp.to(supervisor.email or ""), timeout=30)
    assert "投诉超时" in mail["Subject"] and f"TS-{n}" in mail.get_content()
    assert mail["From"] == "notifications@hospital.example"
    (post,) = await eventually(lambda: robot.at(f"/wecom/{n}"), timeout=30)
    assert post.query == {"key": [f"K{n}"]}
    assert post.body["msgtype"] == "text"
    assert f"TS-{n}" in post.body["text"]["content"]
    assert post.body["text"]["mentioned_mobile_list"] == [f"138{n:08d}"]

    # Waits for every note to be delivered, not merely to exist: the SMS goes through Kannel
    # and its delivery report, after the email and the robot (with a backlog of patient
    # reminders before it, the first check found it still `sending` and failed).
    last: dict[str, str] = {}

    async def all_delivered() -> bool:
        nonlocal last
        last = {m["channel"]: m["status"] for m in await notes_of(notifications, stack_env, sup)}
        return set(last) == {"inbox", "sms", "email", "webhook"} and all(
            status == "delivered" for status in last.values()
        )

    with contextlib.suppress(AssertionError):
        await eventually(all_delivered, timeout=30)
    assert last == {
        "inbox": "delivered",
        "sms": "delivered",
        "email": "delivered",
        "webhook": "delivered",
    }
    ready = await api(notifications, stack_env, "GET", "/readyz")
    assert ready.json()["checks"]["dispatcher"] is True
    # one of them by id: the supervisor's, not another member's (an agent, S-AGENT-01)
    note = (await notes_of(notifications, stack_env, sup))[0]
    mine = await api(notifications, stack_env, "GET", f"/v1/messages/{note['id']}")
    assert mine.status_code == 200 and mine.json()["staff_id"] == sup
    theirs = await api(
        notifications, stack_env, "GET", f"/v1/messages/{note['id']}", token="TOKEN_AGENT"
    )
    assert theirs.status_code == 403, theirs.text


async def test_a_member_who_chose_only_their_dingtalk_robot_gets_nothing_else(
    notifications, stack_env, smtp, robot
) -> None:  # type: ignore[no-untyped-def]
    n = unique()
    dept, doc = f"D{n}", f"S-DOC-{n}"
    doctor = member(doc, dept, StaffRole.DOCTOR, n)
    await send(stack_env, topics.STAFF_ROSTER, ("staff.member_saved", doc, doctor))
    await eventually(lambda: on_roster(notifications, stack_env, doc), timeout=30)
    other = await api(
        notifications, stack_env, "PUT", f"/v1/staff/{doc}/channels", json={}, token="TOKEN_AGENT"
    )
    assert other.status_code == 403  # only the member themself or a supervisor
    chosen = await api(
        notifications, stack_env, "PUT", f"/v1/staff/{doc}/channels", json={"channels": ["webhook"]}
    )
    assert chosen.status_code == 200, chosen.text
    hook = await api(
        notifications,
        stack_env,
        "PUT",
        "/v1/webhooks",
        json={
            "staff_id": doc,
            "flavour": "dingtalk",
            "msgtype": "markdown",
            "secret": f"SEC{n}",
            "url": f"{robot.url}/ding/{n}?access_token=T{n}",
        },
    )
    assert hook.status_code == 201 and hook.json()["secret"] == "set"

    now = datetime.now(UTC)
    overdue = FollowUpTaskOverdue(
        task_id=f"T-{n}",
        kind="inpatient_discharge",
        patient_id=f"P{n:06d}",
        department_code=dept,
        assignee_id=doc,
        due_at=now - timedelta(hours=1),
    )
    # Published under the type's name of the previous release (`followup.task.overdue`, still
    # in flight after the rename to `followup.task_overdue`): still consumed (issue 18).
    await send_as_before_the_rename(stack_env, f"P{n:06d}", overdue)

    (post,) = await eventually(lambda: robot.at(f"/ding/{n}"), timeout=30)
    assert post.body["msgtype"] == "markdown"
    assert post.body["markdown"]["title"] == "回访逾期"
    assert f"T-{n}" in post.body["markdown"]["text"]
    assert post.body["at"] == {"atMobiles": [], "isAtAll": False}  # their own robot: no @
    stamp = post.query["timestamp"][0]
    expected = hmac.new(f"SEC{n}".encode(), f"{stamp}\nSEC{n}".encode(), hashlib.sha256)
    assert post.query["sign"] == [base64.b64encode(expected.digest()).decode()]
    assert post.query["access_token"] == [f"T{n}"]

    notes = await eventually(lambda: notes_of(notifications, stack_env, doc), timeout=10)
    assert {(m["channel"], m["status"]) for m in notes} == {
        ("inbox", "delivered"),
        ("webhook", "delivered"),
    }
    assert smtp.to(doctor.email or "") == []


def assignment(n: int, task: str, agent: str, dept: str) -> tuple[str, str, Contract]:
    data = FollowUpTaskAssigned(
        task_id=task,
        kind="inpatient_discharge",
        patient_id=f"P{n:06d}",
        department_code=dept,
        assignee_id=agent,
        due_at=datetime.now(UTC) + timedelta(days=3),
    )
    return ("followup.task_assigned", f"P{n:06d}", data)


async def test_routine_assignments_wait_for_one_digest_per_member_built_once_by_three_instances(
    notifications, stack_env, smtp
) -> None:  # type: ignore[no-untyped-def]
    n = unique()
    dept, agent = f"D{n}", f"S-AGENT-{n}"
    staff = member(agent, dept, StaffRole.AGENT, n)
    await send(stack_env, topics.STAFF_ROSTER, ("staff.member_saved", agent, staff))
    await eventually(lambda: on_roster(notifications, stack_env, agent), timeout=30)
    tasks = [f"T-{n}-{i}" for i in range(3)]
    await send(stack_env, topics.FOLLOWUP_TASKS, *(assignment(n, t, agent, dept) for t in tasks))
    withdrawn = FollowUpTaskWithdrawn(
        task_id=tasks[2],
        kind="inpatient_discharge",
        patient_id=f"P{n:06d}",
        department_code=dept,
        reason="registration.cancelled",
        source_event_id=f"E{n}",
    )
    await send(
        stack_env, topics.FOLLOWUP_TASKS, ("followup.task_withdrawn", f"P{n:06d}", withdrawn)
    )

    async def waiting() -> list[dict[str, Any]]:
        notes = await notes_of(notifications, stack_env, agent)
        pending = [m for m in notes if m["status"] == "pending"]
        gone = [m for m in notes if m["status"] == "withdrawn"]
        return pending if len(pending) == 4 and len(gone) == 2 else []

    pending = await eventually(waiting, timeout=30)
    assert {m["channel"] for m in pending} == {"sms", "email"}
    assert {m["deferred_reason"] for m in pending} == {"digest"}
    slot = datetime.fromisoformat(pending[0]["planned_for"])
    assert slot.astimezone(SH).time() == time(8, 30) and slot > datetime.now(UTC)
    assert smtp.to(staff.email or "") == []  # nothing yet: it waits for 08:30

    # the clock reaches the slot; three instances build the digests at the same moment
    def at_slot() -> datetime:
        return slot + timedelta(seconds=1)

    rules = StaffRules(tz=SH, quiet_hours=QuietHours(time(0), time(0)), email_enabled=True)
    pool = await asyncpg.create_pool(
        stack_env["DATABASE_URL"],
        server_settings={"search_path": "notifications"},
        min_size=1,
        max_size=6,
    )
    try:
        jobs = [DigestJob(pool, rules, at_slot) for _ in range(3)]
        built = await asyncio.gather(
            *(
                job.build(agent, channel, slot, at_slot())
                for job in jobs
                for channel in ("sms", "email")
            )
        )
        assert sum(built) == 2  # one per channel
        assert await jobs[0].build(agent, "email", slot, at_slot()) == 0  # and never again

        settings = Settings(hospital_name="医院")
        sender = SmtpSender(host="127.0.0.1", port=smtp.port, sender="digest@hospital.example")
        await StaffDispatcher(pool, {"email": sender}, settings, at_slot).dispatch_once()
    finally:
        await pool.close()

    (mail,) = smtp.to(staff.email or "")
    text = mail.get_content()
    assert "待办汇总" in mail["Subject"] and "您有2项" in text
    assert tasks[0] in text and tasks[1] in text and tasks[2] not in text
    notes = await notes_of(notifications, stack_env, agent)
    digests = [m for m in notes if m["template"] == "staff_digest"]
    assert sorted((m["channel"], m["status"]) for m in digests) == [
        ("email", "delivered"),
        ("sms", "pending"),  # its clock is the real one: 08:30 has not come yet
    ]
    by_digest = {m["channel"]: m["id"] for m in digests}
    digested = [m for m in notes if m["status"] == "digested"]
    assert len(digested) == 4
    assert all(m["digest_id"] == by_digest[m["channel"]] for m in digested)


async def test_the_running_service_sends_the_digest_by_email_when_its_time_comes(
    notifications, stack_env, smtp
) -> None:  # type: ignore[no-untyped-def]
    """The same, on the service's own clock: digest times every 10 s for the next two
    minutes, so the assignments join the next one, whenever the restart finishes. They are
    published while the service is down, so it reads them in one batch."""
    n = unique()
    dept, agent = f"D{n}", f"S-AGENT-{n}"
    staff = member(agent, dept, StaffRole.AGENT, n)
    await send(stack_env, topics.STAFF_ROSTER, ("staff.member_saved", agent, staff))
    await eventually(lambda: on_roster(notifications, stack_env, agent), timeout=30)
    notifications.stop()
    tasks = [f"T-{n}-{i}" for i in range(2)]
    await send(stack_env, topics.FOLLOWUP_TASKS, *(assignment(n, t, agent, dept) for t in tasks))
    local_now = datetime.now(SH)
    times = [(local_now + timedelta(seconds=10 * k)).strftime("%H:%M:%S") for k in range(1, 13)]
    notifications.start(
        NOTIFICATIONS_DIGEST_TIMES=json.dumps(times),
        NOTIFICATIONS_DIGEST_CHANNELS='["email"]',
        NOTIFICATIONS_DIGEST_INTERVAL_S="0.5",
    )
    notifications.wait_ready()

    (mail,) = await eventually(lambda: smtp.to(staff.email or ""), timeout=40)
    text = mail.get_content()
    assert "您有2项" in text and all(t in text for t in tasks)
    notes = await notes_of(notifications, stack_env, agent)
    assert sorted(m["status"] for m in notes if m["channel"] == "email") == [
        "delivered",  # the digest
        "digested",
        "digested",
    ]
    # SMS is not a digest channel here: the assignments went at once
    assert {m["status"] for m in notes if m["channel"] == "sms"} <= {"submitted", "delivered"}


async def test_smtp_login_and_refusals_are_told_apart() -> None:
    """Credentials are used; a wrong password is worth retrying (fixable), a refused
    recipient is not."""

    class Accounts:
        def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth: Any):  # type: ignore[no-untyped-def]
            ok = (auth.login, auth.password) == (b"notify", b"s3cret")
            return AuthResult(success=ok)

    class Refusing(SmtpSink):
        async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
            if address.startswith("nobody@"):
                return "550 5.1.1 no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    sink = Refusing()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=sink.port,
        authenticator=Accounts(),
        auth_require_tls=False,
    )
    controller.start()
    try:

        def sender(password: str) -> SmtpSender:
            return SmtpSender(
                host="127.0.0.1",
                port=sink.port,
                sender="notifications@hospital.example",
                username="notify",
                password=password,
                timeout_s=2,
            )

        note = StaffNote("m1", "回访任务", "您有新的回访任务T-1", email="li@hospital.example")
        assert (await sender("s3cret").send(note)).outcome == Outcome.ACCEPTED
        assert [m["To"] for m in sink.messages] == ["li@hospital.example"]
        wrong = await sender("wrong").send(note)
        assert wrong.outcome == Outcome.RETRY  # fixable: retried, not failed at once
        nobody = StaffNote("m2", "s", "t", email="nobody@hospital.example")
        refused = await sender("s3cret").send(nobody)
        assert refused.outcome == Outcome.REJECTED
        assert len(sink.messages) == 1
    finally:
        controller.stop()


async def test_due_sms_are_claimed_urgent_first_then_in_the_order_they_fell_due(
    notifications, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """A breach alert due now is claimed before patient reminders that fell due earlier (a
    backlog of reminders must not hold it up). Against the service's own schema, in a
    transaction that is rolled back."""
    n = unique()
    now = datetime.now(UTC)
    conn = await asyncpg.connect(
        stack_env["DATABASE_URL"], server_settings={"search_path": "notifications"}
    )
    try:
        transaction = conn.transaction()
        await transaction.start()
        # What is already due goes behind this test's rows.
        await conn.execute(
            "UPDATE messages SET send_after = send_after + interval '1 year'"
            " WHERE status = 'pending' AND channel = 'sms' AND send_after <= $1",
            now,
        )
        for key, urgent, send_after in [
            (f"reminder-1-{n}", False, now - timedelta(hours=2)),
            (f"reminder-2-{n}", False, now - timedelta(hours=1)),
            (f"breach-{n}", True, now - timedelta(seconds=1)),
            (f"later-breach-{n}", True, now + timedelta(hours=1)),  # not due yet
        ]:
            await conn.execute(
                "INSERT INTO messages (id, idempotency_key, source_event_id, source_event_type,"
                " template, audience, channel, urgent, body, encoding, segments, status, due_at,"
                " send_after) VALUES ($1, $2, $2, 'test', 'test', 'patient', 'sms', $3, 'x',"
                " 'gsm7', 1, 'pending', $4, $4)",
                uuid.uuid4(),
                key,
                urgent,
                send_after,
            )
        due = await sending.lock_due(conn, now, 10)
        keys = {
            r["id"]: r["idempotency_key"]
            for r in await conn.fetch(
                "SELECT id, idempotency_key FROM messages WHERE id = ANY($1::uuid[])",
                [r["id"] for r in due],
            )
        }
        assert [keys[r["id"]] for r in due] == [
            f"breach-{n}",
            f"reminder-1-{n}",
            f"reminder-2-{n}",
        ]
        await transaction.rollback()
    finally:
        await conn.close()


async def test_a_due_sms_to_a_member_no_longer_active_is_flagged_for_suppression(
    stack_env,
) -> None:  # type: ignore[no-untyped-def]
    """The SMS claim reads the roster as the email and webhook dispatcher does: a member who
    left (inactive) gets no SMS either (`domain.decide` suppresses what is flagged)."""
    pool = await new_schema(stack_env["DATABASE_URL"], "notifystaff", "notifications")
    now = datetime.now(UTC)
    try:
        async with pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO staff (staff_id, phone, active) VALUES ($1, '13800138000', $2)",
                [("S-left", False), ("S-here", True)],
            )
            for staff_id in ("S-left", "S-here"):
                await conn.execute(
                    "INSERT INTO messages (id, idempotency_key, source_event_id,"
                    " source_event_type, template, audience, channel, staff_id, body, encoding,"
                    " segments, status, due_at, send_after) VALUES ($1, $2, $2, 'test', 'test',"
                    " 'staff', 'sms', $3, 'x', 'gsm7', 1, 'pending', $4, $4)",
                    uuid.uuid4(), f"note-{staff_id}", staff_id, now - timedelta(minutes=1),
                )  # fmt: skip
            async with conn.transaction():
                due = await sending.lock_due(conn, now, 10)
                staff = {
                    r["id"]: r["staff_id"]
                    for r in await conn.fetch("SELECT id, staff_id FROM messages")
                }
        assert {staff[r["id"]]: r["staff_inactive"] for r in due} == {
            "S-left": True,
            "S-here": False,
        }
    finally:
        await pool.close()


# A mail relay down, the robot answering 503: retried every 0.2-0.5 s, the attempt cap 3.
OUTAGE_ENV = {
    "NOTIFICATIONS_SEND_RETRY_INITIAL_S": "0.2",
    "NOTIFICATIONS_SEND_RETRY_MAX_S": "0.5",
    "NOTIFICATIONS_SEND_MAX_ATTEMPTS": "3",
}


def breach_for(n: int, dept: str) -> tuple[str, str, Contract]:
    now = datetime.now(UTC)
    breach = ComplaintTimeLimitReached(
        case_number=f"TS-{n}", limit="first_response", level="breach", cycle=1,
        starts_at=now - timedelta(hours=24), due_at=now, status="acknowledged",
        channel="phone", category="waiting_time", priority="normal", department_code=dept,
        supervisor_department=dept, occurred_at=now,
    )  # fmt: skip
    return ("complaint.time_limit_breached", f"TS-{n}", breach)


async def supervisor_with_robot(
    service: RunningService, stack_env: dict[str, str], robot: RobotSink, n: int
) -> StaffMemberSaved:
    """A supervisor of a new department, on the roster, the department's robot at `robot`."""
    dept, sup = f"D{n}", f"S-SUP-{n}"
    url = f"{robot.url}/wecom/{n}?key=K{n}"
    hook = await api(service, stack_env, "PUT", "/v1/webhooks",
                     json={"department_code": dept, "flavour": "wecom", "url": url})  # fmt: skip
    assert hook.status_code == 201, hook.text
    supervisor = member(sup, dept, StaffRole.SUPERVISOR, n)
    await send(stack_env, topics.STAFF_ROSTER, ("staff.member_saved", sup, supervisor))
    await eventually(lambda: on_roster(service, stack_env, sup), timeout=30)
    return supervisor


async def waiting_counted(service: RunningService, channel: str) -> bool:
    async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
        exposed = (await client.get("/metrics")).text
    line = f'notifications_staff_waiting_for_server{{channel="{channel}"}} '
    return any(x.startswith(line) and float(x.split()[-1]) >= 1 for x in exposed.splitlines())


async def test_staff_notes_wait_out_a_mail_relay_and_robot_outage_and_go_once_it_is_back(
    notifications, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """Nothing listens on the relay's port and the robot answers 503: the email and the
    robot post stay pending past the attempt cap (they were failed at it, ~10 minutes into an
    outage with the default backoff), counted for StaffChannelFailing, and each goes exactly
    once when the relay and the robot are back."""
    n, relay = unique(), SmtpSink()
    with (
        restarted(notifications, NOTIFICATIONS_SMTP_PORT=str(relay.port)),
        failing_robot() as robot,
    ):
        sup = await supervisor_with_robot(notifications, stack_env, robot, n)
        await send(stack_env, topics.COMPLAINT_CASES, breach_for(n, f"D{n}"))
        notes = await eventually(
            lambda: past_the_cap(notifications, stack_env, sup.staff_id, ("email", "webhook")),
            timeout=30, interval=0.2,
        )  # fmt: skip
        assert {m["deferred_reason"] for m in notes.values()} == {"gateway_retry"}
        assert "SMTP server unreachable" in notes["email"]["last_error"]
        assert notes["webhook"]["last_error"] == "HTTP 503"
        await eventually(lambda: waiting_counted(notifications, "email"), timeout=15)
        await eventually(lambda: waiting_counted(notifications, "webhook"), timeout=15)
        relay.start()
        robot.failing = None
        try:

            async def delivered() -> bool:
                notes = await notes_of(notifications, stack_env, sup.staff_id)
                return {m["channel"]: m["status"] for m in notes if m["channel"] in
                        ("email", "webhook")} == {"email": "delivered", "webhook": "delivered"}  # fmt: skip

            await eventually(delivered, timeout=30)
            assert len(relay.to(sup.email or "")) == 1 and len(robot.at(f"/wecom/{n}")) == 1
        finally:
            relay.stop()


async def test_notes_waiting_for_their_server_are_counted_while_sms_dispatch_is_paused(
    notifications, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """SMS held (`NOTIFICATIONS_SMS_DISPATCH_PAUSED`) and the robot away (503): the robot
    post, still sent, waits and is counted for StaffChannelFailing as without the pause (the
    paused dispatcher never ran the reconciler that counts it); no SMS counts as waiting for
    the gateway, as an SMS of the breach is held, not tried."""
    n = unique()
    paused = restarted(notifications, NOTIFICATIONS_SMS_DISPATCH_PAUSED="true")
    with paused, failing_robot() as robot:
        sup = await supervisor_with_robot(notifications, stack_env, robot, n)
        await send(stack_env, topics.COMPLAINT_CASES, breach_for(n, f"D{n}"))
        await eventually(
            lambda: past_the_cap(notifications, stack_env, sup.staff_id, ("webhook",)),
            timeout=30, interval=0.2,
        )  # fmt: skip
        await eventually(lambda: waiting_counted(notifications, "webhook"), timeout=15)
        async with httpx.AsyncClient(base_url=notifications.url, timeout=5) as client:
            exposed = (await client.get("/metrics")).text
        notes = await notes_of(notifications, stack_env, sup.staff_id)
    assert "\nnotifications_sms_waiting_for_gateway 0.0\n" in exposed
    assert all(m["attempts"] == 0 for m in notes if m["channel"] == "sms")


async def test_a_note_left_sending_by_a_crash_is_settled_while_sms_dispatch_is_paused(
    notifications, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """A crash between a robot post's hand-over and its answer leaves the note `sending`; the
    reconciler settles it as outcome unknown (never sent twice). It ran only with SMS
    dispatch: while SMS were paused the note stayed `sending` until the pause ended. The
    crash is the row as the sender left it, an hour ago; an SMS left so stays as it is."""
    n = unique()
    with (
        restarted(notifications, NOTIFICATIONS_SMS_DISPATCH_PAUSED="true"),
        failing_robot() as robot,
    ):
        sup = await supervisor_with_robot(notifications, stack_env, robot, n)
        await send(stack_env, topics.COMPLAINT_CASES, breach_for(n, f"D{n}"))
        notes = await eventually(
            lambda: past_the_cap(notifications, stack_env, sup.staff_id, ("webhook",)),
            timeout=30, interval=0.2,
        )  # fmt: skip
        sms = next(m for m in await notes_of(notifications, stack_env, sup.staff_id)
                   if m["channel"] == "sms")  # fmt: skip
        conn = await asyncpg.connect(stack_env["DATABASE_URL"])
        try:
            await conn.execute(
                "UPDATE notifications.messages SET status = 'sending',"
                " sending_since = now() - interval '1 hour' WHERE id = ANY($1::uuid[])",
                [notes["webhook"]["id"], sms["id"]],
            )

            async def settled() -> str | None:
                note = await conn.fetchrow(
                    "SELECT status, status_reason FROM notifications.messages WHERE id = $1",
                    uuid.UUID(notes["webhook"]["id"]),
                )
                return (
                    f"{note['status']}:{note['status_reason']}"
                    if note["status"] != "sending"
                    else None
                )

            # the paused dispatcher's turn: every 20 dispatch intervals (0.2 s here)
            assert await eventually(settled, timeout=30) == "failed:outcome_unknown"
            held = await conn.fetchval(
                "SELECT status FROM notifications.messages WHERE id = $1", uuid.UUID(sms["id"])
            )
        finally:
            await conn.close()
    assert held == "sending"
    assert robot.at(f"/wecom/{n}") == []  # not sent again


async def test_after_an_outage_a_note_still_gets_its_full_attempts_of_answered_errors(
    notifications, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """The robot away (503) past the attempt cap, then answering 500 (an error that may
    pass): the note is failed after `send_max_attempts` (3) answered errors, not at the first
    (the hand-overs of the outage were counted against the cap)."""
    n = unique()
    with restarted(notifications), failing_robot() as robot:
        sup = await supervisor_with_robot(notifications, stack_env, robot, n)
        await send(stack_env, topics.COMPLAINT_CASES, breach_for(n, f"D{n}"))
        waited = await eventually(
            lambda: past_the_cap(notifications, stack_env, sup.staff_id, ("webhook",)),
            timeout=30, interval=0.2,
        )  # fmt: skip
        robot.failing, refused_while_away = 500, robot.refused

        async def failed() -> dict[str, Any]:
            notes = await notes_of(notifications, stack_env, sup.staff_id)
            return next((m for m in notes if m["channel"] == "webhook" and
                         m["status"] == "failed"), {})  # fmt: skip

        note = await eventually(failed, timeout=30)
    assert note["status_reason"].startswith("webhook unavailable after 3 answered errors")
    assert note["attempts"] >= waited["webhook"]["attempts"] + 3
    assert robot.refused - refused_while_away == 3


@contextlib.contextmanager
def restarted(service: RunningService, **env: str) -> Iterator[RunningService]:
    """The module's service with OUTAGE_ENV and `env` for the block, as it was after it."""
    service.stop()
    service.start(**OUTAGE_ENV, **env)
    try:
        service.wait_ready()
        yield service
    finally:
        service.stop()
        service.start()
        service.wait_ready()


@contextlib.contextmanager
def failing_robot() -> Iterator[RobotSink]:
    """A group robot answering 503 (unavailable) until told otherwise."""
    robot = RobotSink().start()
    robot.failing = 503
    try:
        yield robot
    finally:
        robot.stop()


async def past_the_cap(
    service: RunningService, stack_env: dict[str, str], staff_id: str, channels: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """The notes of `channels` by channel once each is pending after twice the cap (3)."""
    notes = {m["channel"]: m for m in await notes_of(service, stack_env, staff_id)}
    out = {c: notes.get(c, {}) for c in channels}
    ok = all(m.get("status") == "pending" and m["attempts"] >= 6 for m in out.values())
    return out if ok else {}
