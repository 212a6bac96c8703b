"""Every column a patient merge (ADT^A40) moves has an index leading with it, for every row
(not partial), on the real PostgreSQL with each service's migrations: a merge runs in its
consumer's transaction, and without one it read the table whole (complaints' enquiries and
feedback, notifications' revoked opt-outs, until complaints 360 and notifications 390)."""

from __future__ import annotations

import re

import pytest

from tests.integration.schemas import schema_pool

# `UPDATE t SET c = $2 WHERE c = $1 ...` (move_column) and `DELETE FROM t WHERE c = $1 ...`
# (move_unique); any other statement is the service's own SQL and its own business.
_MOVED = re.compile(
    r"^(?:UPDATE (\w+) SET (\w+) = \$2 WHERE \2 = \$1|DELETE FROM (\w+) WHERE (\w+) = \$1)"
)

_INDEXED = """
SELECT EXISTS (
    SELECT 1 FROM pg_index i
      JOIN pg_class t ON t.oid = i.indrelid
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_am am ON am.oid = ic.relam
      JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]
     WHERE t.relname = $1 AND t.relnamespace = current_schema()::regnamespace
       AND a.attname = $2 AND i.indisvalid AND i.indpred IS NULL AND am.amname = 'btree')
"""


def moved_columns(service: str) -> list[tuple[str, str]]:
    module = __import__(f"{service}.app", fromlist=["PATIENT_MOVES"])
    found = []
    for statement in module.PATIENT_MOVES:
        if m := _MOVED.match(statement):
            update_table, update_column, delete_table, delete_column = m.groups()
            found.append((update_table or delete_table, update_column or delete_column))
    return sorted(set(found))


# What each service moves today: a list that shrinks means the check ran over less.
MOVED = {
    "complaints": [("cases", "patient_id"), ("enquiries", "patient_id"), ("feedback", "patient_id")],
    "followup": [("call_opt_outs", "patient_id"), ("follow_up_tasks", "patient_id")],
    "notifications": [("messages", "patient_id"), ("opt_outs", "patient_id"),
                      ("patients", "patient_id"), ("survey_links", "patient_id")],
}  # fmt: skip


@pytest.mark.parametrize("service", sorted(MOVED))
async def test_every_column_a_merge_moves_is_indexed(stack_env, service: str) -> None:  # type: ignore[no-untyped-def]
    moved = moved_columns(service)
    assert moved == MOVED[service]
    async with schema_pool(stack_env["DATABASE_URL"], "moveidx", service, max_size=1) as pool:
        unindexed = [(t, c) for t, c in moved if not await pool.fetchval(_INDEXED, t, c)]
    assert unindexed == [], f"{service}: a merge reads these tables whole"
