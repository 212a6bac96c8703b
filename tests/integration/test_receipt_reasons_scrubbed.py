"""Notifications migration 400 on the real PostgreSQL: a failed message's status reason
recorded from an SMPP receipt loses the SMS's words the receipt quoted after `text:`; other
reasons stay as they were."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integration.schemas import migrations, schema_pool

SCRUB = (migrations("notifications") / "400_drop_quoted_sms_text_from_receipts.sql").read_text()
REASONS = {
    "DLR 2: id:7 sub:001 dlvrd:000 stat:UNDELIV err:001 text:【医院】您的投诉已受理": (
        "DLR 2: id:7 sub:001 dlvrd:000 stat:UNDELIV err:001"
    ),
    "DLR 16: stat:REJECTD err:0b TEXT:Zhang San, your": "DLR 16: stat:REJECTD err:0b",
    "DLR 2: absent subscriber": "DLR 2: absent subscriber",
    "outcome_unknown": "outcome_unknown",
    "context:text: of a template": "context:text: of a template",  # not a receipt's
}


async def test_reasons_recorded_from_receipts_lose_the_sms_they_quoted(stack_env) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    async with schema_pool(stack_env["DATABASE_URL"], "scrub", "notifications") as pool:
        for n, reason in enumerate(REASONS):
            await pool.execute(
                "INSERT INTO messages (id, idempotency_key, source_event_id, source_event_type,"
                " template, audience, channel, body, encoding, segments, status, status_reason,"
                " due_at, send_after) VALUES (gen_random_uuid(), $1, 'e', 't', 'x', 'patient',"
                " 'sms', 'b', 'ucs2', 1, 'failed', $2, $3, $3)",
                f"k{n}", reason, now,
            )  # fmt: skip
        await pool.execute(SCRUB)
        kept = {
            r["idempotency_key"]: r["status_reason"]
            for r in await pool.fetch("SELECT idempotency_key, status_reason FROM messages")
        }
    assert kept == {f"k{n}": after for n, after in enumerate(REASONS.values())}
