"""Every column a patient merge (ADT^A40) moves has an index leading with it, for every row
(not partial), on the real PostgreSQL with each service's migrations: a merge runs in its
consumer's transaction, and without one it read the table whole (complaints' enquiries and
feedback, notifications' revoked opt-outs, until complaints 360 and notifications 390). A
statement of a shape this test cannot read fails it, unless it is looked at in `OTHER`."""

from __future__ import annotations

import re

import pytest

from tests.integration.schemas import schema_pool

# `UPDATE t SET c = $2[, ...] WHERE c = $1` (move_column, registration's),
# `DELETE FROM t WHERE c = $1 ...` (move_unique) and `SELECT 1 FROM t WHERE c = $1 ...`
# (lock_in_order).
_MOVED = re.compile(
    r"^(?:UPDATE (\w+) SET (\w+) = \$2\b.* WHERE \2 = \$1$"
    r"|(?:DELETE|SELECT 1) FROM (\w+) WHERE (\w+) = \$1\b)",
    re.DOTALL,
)
# Where each service keeps its merge's statements.
MODULES = {
    "complaints": "complaints.app",
    "followup": "followup.app",
    "notifications": "notifications.app",
    "registration": "registration.repository",
}
# Statements of another shape, each looked at: notifications combines the two patients' rows
# by their primary key before moving them.
OTHER = {
    "UPDATE patients s SET sms_opt_out = s.sms_opt_out OR m.sms_opt_out, deceased = s.deceased"
    " OR m.deceased, deceased_ref = coalesce(s.deceased_ref, m.deceased_ref) FROM patients m"
    " WHERE m.patient_id = $1 AND s.patient_id = $2"
}

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
    module = __import__(MODULES[service], fromlist=["PATIENT_MOVES"])
    found = []
    for statement in module.PATIENT_MOVES:
        if m := _MOVED.match(statement):
            update_table, update_column, delete_table, delete_column = m.groups()
            found.append((update_table or delete_table, update_column or delete_column))
        else:
            assert statement in OTHER, f"{service}: a merge statement this test cannot read"
    return sorted(set(found))


# What each service moves today: a list that shrinks means the check ran over less.
MOVED = {
    "complaints": [("cases", "patient_id"), ("enquiries", "patient_id"), ("feedback", "patient_id")],
    "followup": [("call_opt_outs", "patient_id"), ("deceased_patients", "patient_id"),
                 ("follow_up_tasks", "patient_id")],
    "notifications": [("messages", "patient_id"), ("opt_outs", "patient_id"),
                      ("patients", "patient_id"), ("survey_links", "patient_id")],
    "registration": [("visits", "patient_id")],
}  # fmt: skip


@pytest.mark.parametrize("service", sorted(MODULES))
async def test_every_column_a_merge_moves_is_indexed(stack_env, service: str) -> None:  # type: ignore[no-untyped-def]
    moved = moved_columns(service)
    assert moved == MOVED[service]
    async with schema_pool(stack_env["DATABASE_URL"], "moveidx", service, max_size=1) as pool:
        unindexed = [(t, c) for t, c in moved if not await pool.fetchval(_INDEXED, t, c)]
    assert unindexed == [], f"{service}: a merge reads these tables whole"
