"""SMS under faults, on the real Kannel (bearerbox + smsbox + fakesmsc), Kafka and PostgreSQL:
reports Kannel sends while the service or its database is away are not lost (smsbox retries
them), and a message whose hand-over the service lost track of is settled from Kannel's own
access log instead of being left `outcome unknown`."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

import devstack
from hospital_shared import topics
from notifications.dispatcher import failpoint_after_accept_to, receipt_signature
from notifications.settings import Settings
from tests.integration.services import RunningService
from tests.integration.test_notifications_sms import (
    BASE_ENV,
    discharge_event,
    messages,
    phone_for,
    reminder_event,
    send_events,
    sms_received,
    unique,
    with_status,
)
from tests.integration.test_notifications_sms import (
    notifications as notifications,
)
from tests.kafka_tools import eventually, json_values, read_all
from tests.paging import every_item


def kill_after_accepting(n: int) -> dict[str, str]:
    """Killed once Kannel accepted patient `n`'s SMS: theirs only, so that a message an earlier
    test left due cannot kill the service before it is even ready."""
    return {"HOSPITAL_FAILPOINTS": f"{failpoint_after_accept_to('+86' + phone_for(n))}=kill"}


def restart(service: RunningService, **env: str) -> None:
    service.stop()
    service.start(**{**BASE_ENV, **env})
    service.wait_ready()


async def _one(
    service: RunningService, stack_env: dict[str, str], pid: str, status: str
) -> list[dict[str, Any]]:
    return with_status(status, await messages(service, stack_env, pid))


async def _sms_events(stack_env: dict[str, str], message_id: str, at_least: int) -> list[str]:
    """The `sms.*` event types of a message, once there are `at_least` of them."""
    events = json_values(await read_all(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.NOTIFICATIONS))
    types = sorted(e["type"] for e in events if e["data"]["message_id"] == message_id)
    return types if len(types) >= at_least else []


async def test_a_receipt_sent_while_the_service_is_down_is_recorded_when_it_is_back(
    notifications, stack_env, stack_config
) -> None:  # type: ignore[no-untyped-def]
    """Killed right after Kannel accepted the SMS: the delivery receipts come while nothing
    listens. smsbox keeps them and sends them again, so the message ends `delivered`."""
    n, dept = unique()
    restart(notifications, **kill_after_accepting(n))
    pid = f"P{n:06d}"
    await send_events(stack_env, topics.DISCHARGES, discharge_event(n, dept))
    assert await asyncio.to_thread(notifications.wait_exit, 60) == -9  # killed mid-send
    # Kannel sends it and reports delivery (to nobody) on its own
    await eventually(lambda: len(sms_received(stack_config, dept)) == 1, timeout=30)

    restart(notifications)
    (msg,) = await eventually(lambda: _one(notifications, stack_env, pid, "delivered"), timeout=40)
    assert msg["submitted_at"] is not None and msg["delivered_at"] is not None
    assert await eventually(lambda: _sms_events(stack_env, msg["id"], 2), timeout=20) == [
        "sms.delivered",
        "sms.submitted",
    ]
    assert len(sms_received(stack_config, dept)) == 1


async def test_a_reply_sent_while_the_database_is_down_opts_the_patient_out_when_it_is_back(
    notifications, stack_env, stack_config
) -> None:  # type: ignore[no-untyped-def]
    """A 退订 that arrives while PostgreSQL is stopped is answered 503 (not recorded), and
    smsbox forwards it again until it is."""
    n, dept = unique()
    pid = f"P{n:06d}"
    await send_events(stack_env, topics.REGISTRATIONS, reminder_event(n, dept, hours_ahead=72))
    (waiting,) = await eventually(
        lambda: _one(notifications, stack_env, pid, "pending"), timeout=30
    )
    before = len(notifications.log)
    await asyncio.to_thread(devstack.stop_postgres, stack_config)
    try:
        devstack.inject_mo(stack_config, f"139{n:08d}", "95000", "退订", ucs2=True)
        await eventually(
            lambda: "gateway report not recorded" in notifications.log[before:], timeout=30
        )
    finally:
        await asyncio.to_thread(devstack.start_postgres, stack_config)
    (msg,) = await eventually(lambda: _one(notifications, stack_env, pid, "suppressed"), timeout=40)
    assert msg["id"] == waiting["id"] and msg["status_reason"] == "opted_out"


async def test_receipts_are_refused_with_503_while_the_database_is_down(
    notifications, stack_config
) -> None:  # type: ignore[no-untyped-def]
    """Not 200 (Kannel would drop the report) and not a 500 with a traceback."""
    await asyncio.to_thread(devstack.stop_postgres, stack_config)
    try:
        async with httpx.AsyncClient(base_url=notifications.url, timeout=10) as client:
            resp = await client.get(
                "/v1/sms/inbound", params={"from": "+8613900000000", "text": "STOP"}
            )
            message_id = str(uuid.uuid4())
            sig = receipt_signature(Settings().callback_secret, message_id)
            receipt = await client.get(
                "/v1/sms/dlr", params={"id": message_id, "sig": sig, "status": 1}
            )
    finally:
        await asyncio.to_thread(devstack.start_postgres, stack_config)
    for answer in (resp, receipt):
        assert answer.status_code == 503, answer.text
        assert "retry" in answer.json()["detail"]


async def _resend(
    service: RunningService, stack_env: dict[str, str], message_id: str, **body: Any
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
        return await client.post(
            f"/v1/messages/{message_id}/resend",
            json=body or None,
            headers={"Authorization": f"Bearer {stack_env['TOKEN_SUPERVISOR']}"},
        )


async def test_an_interrupted_hand_over_found_in_kannels_log_waits_for_its_receipt(
    notifications, stack_env, stack_config
) -> None:  # type: ignore[no-untyped-def]
    """Killed after Kannel accepted it, its receipts sent where nobody answers: bearerbox's
    access log shows it sent, so it is `submitted`, not `outcome_unknown`; when no receipt
    comes it expires, and is not resent at a click."""
    n, dept = unique()
    restart(notifications, **kill_after_accepting(n), NOTIFICATIONS_PUBLIC_URL="http://127.0.0.1:9")
    pid = f"P{n:06d}"
    await send_events(stack_env, topics.DISCHARGES, discharge_event(n, dept))
    assert await asyncio.to_thread(notifications.wait_exit, 60) == -9
    await eventually(lambda: len(sms_received(stack_config, dept)) == 1, timeout=30)

    restart(notifications, NOTIFICATIONS_RECEIPT_TIMEOUT_H="0.001")  # expires ~4 s after
    (msg,) = await eventually(lambda: _one(notifications, stack_env, pid, "expired"), timeout=40)
    assert msg["submitted_at"] is not None and msg["status_reason"] == "no final delivery receipt"
    assert await eventually(lambda: _sms_events(stack_env, msg["id"], 2), timeout=20) == [
        "sms.expired",
        "sms.submitted",
    ]
    refused = await _resend(notifications, stack_env, msg["id"])
    assert refused.status_code == 409
    assert "accepted" in refused.json()["detail"]
    assert "override_duplicate_risk" in refused.json()["detail"]
    assert len(sms_received(stack_config, dept)) == 1


async def _gateway_that_never_answers() -> tuple[asyncio.Server, str]:
    """An HTTP server that reads the request and answers nothing: the answer is lost."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await reader.read()  # until the client gives up

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/cgi-bin/sendsms"


async def _gauge(service: RunningService, name: str) -> float:
    async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
        text = (await client.get("/metrics")).text
    return next(float(ln.split()[1]) for ln in text.splitlines() if ln.startswith(f"{name} "))


async def test_a_lost_answer_kannel_has_no_record_of_stays_unknown_and_is_resent_only_by_override(
    notifications, stack_env, stack_config
) -> None:  # type: ignore[no-untyped-def]
    server, url = await _gateway_that_never_answers()
    try:
        restart(notifications, NOTIFICATIONS_KANNEL_URL=url, NOTIFICATIONS_GATEWAY_TIMEOUT_S="1")
        n, dept = unique()
        pid = f"P{n:06d}"
        await send_events(stack_env, topics.DISCHARGES, discharge_event(n, dept))
        (msg,) = await eventually(lambda: _one(notifications, stack_env, pid, "failed"), timeout=40)
    finally:
        server.close()
    assert msg["status_reason"] == "outcome_unknown"
    assert (
        await eventually(
            lambda: _gauge(notifications, "notifications_sms_outcome_unknown"), timeout=30
        )
        >= 1
    )
    supervisor = {"Authorization": f"Bearer {stack_env['TOKEN_SUPERVISOR']}"}
    async with httpx.AsyncClient(base_url=notifications.url, timeout=10) as client:
        listing = await client.get("/v1/sms/unsettled", params={"limit": 1}, headers=supervisor)
        every = await every_item(client, "/v1/sms/unsettled?limit=1", supervisor)
        agent = await client.get(
            "/v1/sms/unsettled", headers={"Authorization": f"Bearer {stack_env['TOKEN_AGENT']}"}
        )
    assert agent.status_code == 403
    assert listing.json()["outcome_unknown"] >= 1
    assert listing.json()["limit"] == 1  # a page: items, next, limit, with the counts
    assert len(every) == len({m["id"] for m in every})  # its next links, nothing twice
    (listed,) = [m for m in every if m["id"] == msg["id"]]
    assert listed["status_reason"] == "outcome_unknown" and "to_number" not in listed
    restart(notifications)  # the real gateway again
    refused = await _resend(notifications, stack_env, msg["id"])
    assert refused.status_code == 409 and "may have sent" in refused.json()["detail"]
    no_reason = await _resend(notifications, stack_env, msg["id"], override_duplicate_risk=True)
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    resent = await _resend(
        notifications, stack_env, msg["id"],
        override_duplicate_risk=True, reason="patient phoned: no SMS received",
    )  # fmt: skip
    assert resent.status_code == 201, resent.text
    (again,) = await eventually(
        lambda: _one(notifications, stack_env, pid, "delivered"), timeout=30
    )
    assert again["resend_of"] == msg["id"]
    assert len(sms_received(stack_config, dept)) == 1  # the first never reached Kannel
