"""`GET /v1/messages?status=failed&since=<outage start>` (the SmsGatewayFailing runbook) on
the real PostgreSQL: `since` is when a message finished, so a reminder planned a week before
the outage and failed in it is listed; one failed before the outage is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifications import repository
from notifications.domain import Status
from tests.integration.schemas import schema_pool

NOW = datetime(2026, 12, 7, 9, tzinfo=UTC)
OUTAGE = NOW - timedelta(hours=2)


async def test_since_is_when_a_message_finished(stack_env) -> None:  # type: ignore[no-untyped-def]
    async with schema_pool(stack_env["DATABASE_URL"], "since", "notifications") as pool:
        for key, created, finished in (
            ("planned-last-week", NOW - timedelta(days=7), NOW - timedelta(hours=1)),
            ("failed-before", NOW - timedelta(days=7), OUTAGE - timedelta(hours=1)),
        ):
            await pool.execute(
                "INSERT INTO messages (id, idempotency_key, source_event_id, source_event_type,"
                " template, audience, channel, body, encoding, segments, status, status_reason,"
                " due_at, send_after, created_at, finished_at) VALUES (gen_random_uuid(), $1,"
                " 'e', 't', 'x', 'patient', 'sms', 'b', 'ucs2', 1, 'failed', 'r', $2, $2, $2, $3)",
                key, created, finished,
            )  # fmt: skip
        async with pool.acquire() as conn:
            listed = await repository.messages_of(conn, status=Status.FAILED, since=OUTAGE)
    assert [m["idempotency_key"] for m in listed] == ["planned-last-week"]
