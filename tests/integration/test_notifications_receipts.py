"""Delivery receipts that come together are recorded together (notifications/receipts.py), on
the real PostgreSQL and Kafka: each message ends as its receipts say, in whatever order they
came, with one `sms.*` event per status; nothing is answered before its write has committed;
an unknown message is answered 404 without holding back the others.

The dispatcher is paused here, so the messages are handed over by this test (status `sending`,
as a claim leaves them) and the receipts are sent by it, as Kannel would."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from hospital_shared import topics
from notifications.dispatcher import receipt_signature
from tests.integration.services import RunningService, running
from tests.integration.test_notifications_sms import BASE_ENV, reminder_event, send_events, unique
from tests.kafka_tools import eventually, json_values, read_all

SECRET = "receipts-test-secret"


@pytest.fixture(scope="module")
def held(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    env = {
        **BASE_ENV,
        "NOTIFICATIONS_SMS_DISPATCH_PAUSED": "true",
        "NOTIFICATIONS_CALLBACK_SECRET": SECRET,
    }
    with running(stack_config, "notifications", env) as service:
        yield service


async def handed_over(
    stack_env: dict[str, str], raw_db: asyncpg.Connection, count: int
) -> list[str]:
    """`count` patients' visit reminders, planned and then marked handed to the gateway as a
    claim marks them (the dispatcher is paused): their message ids."""
    patients = [unique() for _ in range(count)]
    await send_events(
        stack_env, topics.REGISTRATIONS, *(reminder_event(n, dept) for n, dept in patients)
    )
    pids = [f"P{n:06d}" for n, _ in patients]

    async def planned() -> list[asyncpg.Record]:
        rows = await raw_db.fetch(
            "SELECT id FROM notifications.messages WHERE patient_id = ANY($1::text[])"
            " AND template = 'appointment_reminder'",
            pids,
        )
        return rows if len(rows) == count else []

    ids = [r["id"] for r in await eventually(planned, timeout=40)]
    await raw_db.execute(
        "UPDATE notifications.messages SET status = 'sending', handed_at = now(),"
        " sending_since = now(), attempts = 1 WHERE id = ANY($1::uuid[])",
        ids,
    )
    return [str(i) for i in ids]


def receipt(client: httpx.AsyncClient, message_id: str, dlr: int, reply: str = "") -> Any:
    sig = receipt_signature(SECRET, message_id)
    return client.get(
        "/v1/sms/dlr", params={"id": message_id, "sig": sig, "status": dlr, "reply": reply}
    )


async def writes(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    found = re.search(r"^notifications_receipts_per_write_count (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def sms_events(stack_env: dict[str, str], ids: list[str]) -> dict[str, Counter[str]]:
    events = json_values(await read_all(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.NOTIFICATIONS))
    found: dict[str, Counter[str]] = {i: Counter() for i in ids}
    for e in events:
        if e["data"]["message_id"] in found:
            found[e["data"]["message_id"]][e["type"]] += 1
    return found


async def test_receipts_that_come_together_are_written_together_each_as_it_says(
    held, stack_env, raw_db
) -> None:  # type: ignore[no-untyped-def]
    ids = await handed_over(stack_env, raw_db, 13)
    first, delivered, acked_then_delivered, failed, twice = (
        ids[0], ids[1:5], ids[5:8], ids[8:11], ids[11]
    )  # fmt: skip
    plain_sending = ids[12]  # gets no receipt
    unknown = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=held.url, timeout=60) as client:
        writes_before = await writes(client)
        # the first receipt's write waits for a lock this test holds; the others come meanwhile
        lock = raw_db.transaction()
        await lock.start()
        await raw_db.execute(
            "SELECT 1 FROM notifications.messages WHERE id = $1::uuid FOR UPDATE", first
        )
        first_answer = asyncio.create_task(receipt(client, first, 1))
        await eventually(
            lambda: raw_db.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"),
            timeout=20,
            interval=0.1,
        )
        sent = [
            *(receipt(client, i, 1, "DELIVRD") for i in delivered),
            *(receipt(client, i, dlr) for i in acked_then_delivered for dlr in (8, 1)),
            *(receipt(client, i, 16, "rejected by the operator") for i in failed),
            receipt(client, twice, 1),
            receipt(client, twice, 1),
            receipt(client, unknown, 1),
        ]
        others = [asyncio.create_task(s) for s in sent]
        await asyncio.sleep(1.0)
        # nothing is answered before the write that holds it has committed
        assert not first_answer.done() and not any(t.done() for t in others)
        await lock.rollback()
        answers = [await first_answer, *[await t for t in others]]
        writes_after = await writes(client)

    codes = Counter(a.status_code for a in answers)
    assert codes == {200: len(answers) - 1, 404: 1}, [(a.status_code, a.text) for a in answers]
    assert answers[-1].json()["detail"] == "no such message"
    assert sorted(a.text for a in answers[-3:-1]) == ["ok", "unchanged"]  # the same one twice
    # 17 receipts, recorded in far fewer writes than one each (the first alone, the rest with
    # at most a straggler's write after it)
    assert writes_after - writes_before <= 3

    rows = {
        str(r["id"]): r
        for r in await raw_db.fetch(
            "SELECT id, status, status_reason, submitted_at, delivered_at, finished_at"
            " FROM notifications.messages WHERE id = ANY($1::uuid[])",
            ids,
        )
    }
    for i in [first, *delivered, *acked_then_delivered, twice]:
        r = rows[i]
        assert (r["status"], r["status_reason"]) == ("delivered", None), i
        assert r["submitted_at"] and r["delivered_at"] and r["finished_at"] == r["delivered_at"]
    for i in failed:
        r = rows[i]
        assert (r["status"], r["status_reason"]) == ("failed", "DLR 16: rejected by the operator")
        assert r["submitted_at"] and r["delivered_at"] is None and r["finished_at"]
    assert rows[plain_sending]["status"] == "sending"

    expected = {
        **{i: {"sms.submitted": 1, "sms.delivered": 1} for i in [first, *delivered, twice]},
        **{i: {"sms.submitted": 1, "sms.delivered": 1} for i in acked_then_delivered},
        **{i: {"sms.submitted": 1, "sms.failed": 1} for i in failed},
        plain_sending: {},
    }
    assert (
        await eventually(lambda: _when_complete(sms_events(stack_env, ids), expected), timeout=30)
        == expected
    )


async def _when_complete(found: Any, expected: dict[str, dict[str, int]]) -> Any:
    events = {i: dict(c) for i, c in (await found).items()}
    return events if sum(map(len, events.values())) >= sum(map(len, expected.values())) else None


async def test_a_late_receipt_moves_a_final_message_no_further(held, stack_env, raw_db) -> None:  # type: ignore[no-untyped-def]
    """Delivered is final; a failure is corrected only when the service lost track of it."""
    delivered, failed = await handed_over(stack_env, raw_db, 2)
    async with httpx.AsyncClient(base_url=held.url, timeout=30) as client:
        assert (await receipt(client, delivered, 1)).text == "ok"
        assert (await receipt(client, failed, 2, "no such subscriber")).text == "ok"
        assert (await receipt(client, delivered, 2)).text == "unchanged"
        assert (await receipt(client, delivered, 8)).text == "unchanged"
        assert (await receipt(client, failed, 1)).text == "unchanged"
        bad = await client.get(
            "/v1/sms/dlr", params={"id": delivered, "sig": "0" * 32, "status": 1}
        )
    assert bad.status_code == 403
    statuses = await raw_db.fetch(
        "SELECT id::text, status, status_reason FROM notifications.messages"
        " WHERE id = ANY($1::uuid[]) ORDER BY status",
        [delivered, failed],
    )
    assert [tuple(r) for r in statuses] == [
        (delivered, "delivered", None),
        (failed, "failed", "DLR 2: no such subscriber"),
    ]


async def test_a_row_held_by_another_transaction_holds_up_only_its_own_receipt(
    held, stack_env, raw_db
) -> None:  # type: ignore[no-untyped-def]
    """Its receipt is answered 503 after `LOCK_TIMEOUT` (smsbox sends it again); the receipts
    of the other messages written meanwhile are recorded."""
    stuck, *others = await handed_over(stack_env, raw_db, 4)
    async with httpx.AsyncClient(base_url=held.url, timeout=60) as client:
        lock = raw_db.transaction()
        await lock.start()
        try:
            await raw_db.execute(
                "SELECT 1 FROM notifications.messages WHERE id = $1::uuid FOR UPDATE", stuck
            )
            started = time.monotonic()
            answers = await asyncio.gather(
                receipt(client, stuck, 1), *(receipt(client, i, 1) for i in others)
            )
            waited = time.monotonic() - started
        finally:
            await lock.rollback()
        again = await receipt(client, stuck, 1)  # smsbox's retry, the row free again
    assert answers[0].status_code == 503, answers[0].text
    assert "busy" in answers[0].json()["detail"]
    assert [a.text for a in answers[1:]] == ["ok"] * 3
    assert waited < 30  # not the 30 s statement timeout: the lock timeout (5 s), then each alone
    assert again.text == "ok"
    statuses = await raw_db.fetch(
        "SELECT status FROM notifications.messages WHERE id = ANY($1::uuid[])", [stuck, *others]
    )
    assert [r["status"] for r in statuses] == ["delivered"] * 4


async def test_a_nul_in_the_operators_words_or_a_reply_is_stored_as_a_replacement_character(
    held, stack_env, raw_db
) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL stores no NUL: the receipt's `reply` and an SMS reply's text are read raw
    (not through GuardedRoute), and each failed at every retry of smsbox."""
    (failed,) = await handed_over(stack_env, raw_db, 1)
    async with httpx.AsyncClient(base_url=held.url, timeout=30) as client:
        answer = await receipt(client, failed, 2, "absent\x00subscriber")
        before = await raw_db.fetchval("SELECT count(*) FROM notifications.inbound_sms")
        reply = await client.get(
            "/v1/sms/inbound", params={"from": "+8613900000001", "text": "hello\x00there"}
        )
    assert (answer.status_code, answer.text) == (200, "ok")
    assert reply.status_code == 200, reply.text
    reason = await raw_db.fetchval(
        "SELECT status_reason FROM notifications.messages WHERE id = $1::uuid", failed
    )
    assert reason == "DLR 2: absent\ufffdsubscriber"
    after = await raw_db.fetchval("SELECT count(*) FROM notifications.inbound_sms")
    assert after == before + 1
