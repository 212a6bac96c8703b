"""Who read a patient's data, for a patient merged (ADT^A40) with another, on the real
PostgreSQL with the shared migrations: access records keep the id the reader saw and are
never moved, so the list by either id must name both ids' reads."""

from __future__ import annotations

from datetime import UTC, datetime

from hospital_shared.access_records import list_records
from tests.integration.schemas import schema_pool


async def read(conn, patient_id: str, staff_id: str) -> None:  # type: ignore[no-untyped-def]
    await conn.execute(
        "INSERT INTO access_records (service, staff_id, role, patient_id, record_kind,"
        " record_ids, outcome, in_scope, route) VALUES ('followup', $2, 'agent', $1, 'task',"
        " ARRAY['T-1'], 'granted', true, '/v1/tasks/{task_id}')",
        patient_id, staff_id,
    )  # fmt: skip


async def test_the_reads_of_a_merged_patient_are_listed_under_either_id(stack_env) -> None:  # type: ignore[no-untyped-def]
    async with (
        schema_pool(stack_env["DATABASE_URL"], "readers", "followup") as pool,
        pool.acquire() as conn,
    ):
        await read(conn, "P-OLD", "S-BEFORE")  # read before the merge, under the old id
        await read(conn, "P-OTHER", "S-ELSE")
        await conn.execute(
            "INSERT INTO patient_aliases (merged_id, surviving_id, event_id, merged_at)"
            " VALUES ('P-OLD', 'P-NEW', 'e-merge', $1)",
            datetime.now(UTC),
        )
        await read(conn, "P-NEW", "S-AFTER")
        for asked in ("P-NEW", "P-OLD"):
            rows = await list_records(conn, patient_id=asked, staff_id=None, since=None, limit=10)
            assert sorted(r["staff_id"] for r in rows) == ["S-AFTER", "S-BEFORE"], asked
        rows = await list_records(conn, patient_id="P-OTHER", staff_id=None, since=None, limit=10)
        assert [r["staff_id"] for r in rows] == ["S-ELSE"]
        everyone = await list_records(conn, patient_id=None, staff_id=None, since=None, limit=10)
        assert len(everyone) == 3
