"""A patient merge (ADT^A40) moves a patient SMS's idempotency key to the survivor, on the
real PostgreSQL with notifications' migrations and merge statements: the complaint outcome
is planned on `case_communicated` and again on `case_closed`, and when a merge came between
them the second was read under the survivor's id, found no message with its key, and the
patient got the outcome twice."""

from __future__ import annotations

from datetime import UTC, datetime

from notifications.app import PATIENT_MOVES
from notifications.message_store import insert_message
from tests.integration.schemas import schema_pool

NOW = datetime(2026, 12, 7, 2, tzinfo=UTC)


def key(subject: str, template: str, patient: str) -> str:
    """As message_rows.py makes a patient SMS's key: `<planned key>:<template>:<recipient>:sms`."""
    return f"{subject}:{template}:patient:{patient}:sms"


async def plan(conn, idempotency_key: str, patient: str) -> bool:  # type: ignore[no-untyped-def]
    return await insert_message(
        conn, idempotency_key=idempotency_key, source_event_id="e", source_event_type="t",
        template="complaint_outcome", audience="patient", channel="sms", patient_id=patient,
        body="您的投诉已处理完毕", encoding="ucs2", segments=1, status="pending",
        due_at=NOW, send_after=NOW,
    )  # fmt: skip


async def test_a_merge_moves_the_keys_so_a_later_event_plans_no_second_sms(stack_env) -> None:  # type: ignore[no-untyped-def]
    outcome = key("complaint-outcome:TS-1:1", "complaint_outcome", "P-M")
    both = key("reg:R-1", "visit_reminder", "P-M")  # the survivor has this one too
    staff = "task:T-1:staff_task_assigned:staff:S-1:sms"
    async with (
        schema_pool(stack_env["DATABASE_URL"], "mergekeys", "notifications") as pool,
        pool.acquire() as conn,
    ):
        assert await plan(conn, outcome, "P-M")
        assert await plan(conn, both, "P-M")
        assert await plan(conn, key("reg:R-1", "visit_reminder", "P-S"), "P-S")
        assert await plan(conn, staff, "P-M")  # not a patient SMS's key: left as it is
        async with conn.transaction():
            for statement in PATIENT_MOVES:
                await conn.execute(statement, "P-M", "P-S")
        keys = {
            r["idempotency_key"]: r["patient_id"]
            for r in await conn.fetch("SELECT idempotency_key, patient_id FROM messages")
        }
        assert keys == {
            key("complaint-outcome:TS-1:1", "complaint_outcome", "P-S"): "P-S",
            both: "P-S",
            key("reg:R-1", "visit_reminder", "P-S"): "P-S",
            staff: "P-S",
        }
        # `case_closed`, read under the survivor's id: the outcome exists
        assert not await plan(
            conn, key("complaint-outcome:TS-1:1", "complaint_outcome", "P-S"), "P-S"
        )
        # the same merge delivered again changes nothing
        async with conn.transaction():
            for statement in PATIENT_MOVES:
                await conn.execute(statement, "P-M", "P-S")
        again = {
            r["idempotency_key"] for r in await conn.fetch("SELECT idempotency_key FROM messages")
        }
        assert again == set(keys)
