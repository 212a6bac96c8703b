"""Kannel really stopped (bearerbox + smsbox, the session's own), messages sent meanwhile,
Kannel started again: every message waits `pending` past `send_max_attempts` (it was failed
at the cap, ~10 minutes into an outage with the default backoff: F2), operations can list
what waits, and every message reaches the fake SMSC later, exactly once.

Kannel is restarted, and healthy again, before the test ends, whatever happens, so the other
modules sharing the session stack find it as they left it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack import kannel, procs
from hospital_shared import topics
from tests.integration.services import RunningService, running
from tests.integration.test_notifications_sms import (
    as_role,
    discharge_event,
    messages,
    restart,
    send_events,
    sms_received,
    unique,
)
from tests.kafka_tools import eventually
from tests.paging import every_item

ENV = {
    "NOTIFICATIONS_QUIET_HOURS_START": "00:00",
    "NOTIFICATIONS_QUIET_HOURS_END": "00:00",
    "NOTIFICATIONS_DISCHARGE_NOTICE_DELAY_MIN": "0",
    "NOTIFICATIONS_DISPATCH_INTERVAL_S": "0.2",
    "NOTIFICATIONS_DIGEST_CHANNELS": "[]",
    # retry every 0.2 s, 0.4 s, 0.5 s, 0.5 s ...: the outage outlasts the attempt cap, which
    # holds only for errors the gateway answers (test_notifications_sms.py)
    "NOTIFICATIONS_SEND_RETRY_INITIAL_S": "0.2",
    "NOTIFICATIONS_SEND_RETRY_MAX_S": "0.5",
    "NOTIFICATIONS_SEND_MAX_ATTEMPTS": "3",
    "NOTIFICATIONS_SURVEY_CONTACTS": "[]",  # only the care notices: the test counts them
}


@pytest.fixture(scope="module")
def notifications(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "notifications", ENV) as service:
        yield service


def stop_kannel(cfg: Any) -> None:
    """Stop bearerbox and smsbox (and fakesmsc, which exits without its bearerbox)."""
    pids = [procs.running(cfg, name) for name in ("smsbox", "bearerbox", "fakesmsc")]
    procs.terminate_groups([pid for pid in pids if pid is not None])
    assert not procs.port_open(cfg.kannel_sendsms_port)


async def operations_see_them_waiting(
    service: RunningService, stack_env: dict[str, str], ids: set[str]
) -> None:
    """The alert's runbook: what waits for the gateway, listed by status for a supervisor
    (not for an agent), and counted in `notifications_sms_waiting_for_gateway`."""
    since = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    url = f"/v1/messages?status=pending&deferred_reason=gateway_retry&since={since}"
    supervisor = {"Authorization": f"Bearer {stack_env['TOKEN_SUPERVISOR']}"}
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:

        async def listed() -> bool:  # each is `sending` for a moment at every attempt
            items = await every_item(client, url, supervisor)
            return {i["id"] for i in items} >= ids

        await eventually(listed, timeout=10, interval=0.1)
        agent = await client.get(
            url, headers={"Authorization": f"Bearer {stack_env['TOKEN_AGENT']}"}
        )
        assert agent.status_code == 403

        async def counted() -> bool:
            exposed = (await client.get("/metrics")).text
            found = re.search(r"^notifications_sms_waiting_for_gateway (\S+)$", exposed, re.M)
            return found is not None and float(found.group(1)) >= 1

        await eventually(counted, timeout=15)


async def test_messages_sent_while_kannel_is_stopped_go_out_later_exactly_once(
    notifications, stack_env, stack_config
) -> None:  # type: ignore[no-untyped-def]
    patients = [unique() for _ in range(3)]
    await asyncio.to_thread(stop_kannel, stack_config)
    try:
        await send_events(
            stack_env, topics.DISCHARGES, *(discharge_event(n, dept) for n, dept in patients)
        )

        async def retrying() -> list[dict[str, Any]]:
            rows = [
                row
                for n, _ in patients
                for row in await messages(notifications, stack_env, f"P{n:06d}")
            ]
            waiting = [
                r
                for r in rows
                if r["status"] == "pending" and r["deferred_reason"] == "gateway_retry"
                and r["attempts"] >= 6  # twice the cap
            ]  # fmt: skip
            return rows if len(waiting) == len(patients) else []

        rows = await eventually(retrying, timeout=30, interval=0.2)
        assert all("gateway unreachable" in r["last_error"] for r in rows)
        assert all(sms_received(stack_config, dept) == [] for _, dept in patients)
        await operations_see_them_waiting(notifications, stack_env, {r["id"] for r in rows})
    finally:
        await asyncio.to_thread(kannel.up, stack_config)  # healthy again: smsbox + SMSC online

    async def delivered() -> list[dict[str, Any]]:
        rows = [
            row
            for n, _ in patients
            for row in await messages(notifications, stack_env, f"P{n:06d}")
        ]
        return rows if all(r["status"] == "delivered" for r in rows) else []

    rows = await eventually(delivered, timeout=40)
    assert len(rows) == len(patients)
    assert all(r["attempts"] >= 7 for r in rows)  # unreachable at least 6 times, then accepted
    for n, dept in patients:
        assert sms_received(stack_config, dept) == [
            (f"+86139{n:08d}", next(r["body"] for r in rows if r["patient_id"] == f"P{n:06d}"))
        ]
    assert "on-line" in kannel.status_text(stack_config)


async def test_after_an_outage_an_sms_still_gets_its_full_attempts_of_answered_errors(
    notifications, stack_env, stack_config
) -> None:  # type: ignore[no-untyped-def]
    """Kannel stopped past the attempt cap, then back but refusing the service's credentials
    (a 403, an error that may pass): the SMS is failed after `send_max_attempts` (3) such
    answers. The hand-overs of the outage counted against the cap, and the first 403 after it
    failed the SMS at once. A supervisor sees why in the list and in the message itself: 3
    answered errors (`answered_errors`), none while Kannel was stopped."""
    n, dept = unique()
    restart(notifications, **ENV, NOTIFICATIONS_KANNEL_PASSWORD="not-the-password")
    await asyncio.to_thread(stop_kannel, stack_config)
    try:
        await send_events(stack_env, topics.DISCHARGES, discharge_event(n, dept))

        async def waiting() -> dict[str, Any] | None:
            rows = await messages(notifications, stack_env, f"P{n:06d}")
            return next((r for r in rows if r["status"] == "pending" and r["attempts"] >= 6), None)

        waited = await eventually(waiting, timeout=30, interval=0.2)
    finally:
        await asyncio.to_thread(kannel.up, stack_config)
    try:

        async def failed() -> dict[str, Any] | None:
            rows = await messages(notifications, stack_env, f"P{n:06d}")
            return next((r for r in rows if r["status"] == "failed"), None)

        row = await eventually(failed, timeout=30)
    finally:
        restart(notifications, **ENV)
    assert row["status_reason"].startswith("gateway unavailable after 3 answered errors"), row[
        "status_reason"
    ]
    assert "HTTP 403" in row["status_reason"]
    assert row["attempts"] >= waited["attempts"] + 3
    assert (waited["answered_errors"], row["answered_errors"]) == (0, 3)
    one = await as_role(notifications, stack_env, "SUPERVISOR", f"/v1/messages/{row['id']}")
    assert one.json()["answered_errors"] == 3
    assert sms_received(stack_config, dept) == []
