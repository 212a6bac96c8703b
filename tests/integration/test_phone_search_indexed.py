"""A STOP reply finds the patients with its number through indexes, on the real PostgreSQL
with notifications' migrations: by the keyed hash, or by the plaintext of a row from before
encryption that the re-seal job has not reached yet (`repository.same_phone`). Before
migration 380 the second half had no index, and every reply read the whole patients table."""

from __future__ import annotations

import json
from typing import Any

from hospital_shared.field_crypto import search_hash
from notifications import repository
from tests.integration.schemas import schema_pool

PATIENTS = """
INSERT INTO patients (patient_id, phone, phone_hash, sms_opt_out)
SELECT 'P-' || g, 'sealed-' || md5(g::text), md5('hash-' || g), false
  FROM generate_series(1, 20000) AS g
"""
# What suppress_waiting asks of the patients for a STOP reply's number.
BY_PHONE = (
    "SELECT patient_id FROM patients WHERE $1::text IS NOT NULL AND "
    + repository.same_phone("$1", "$2")
)


def scans(plan: Any) -> list[str]:
    """Every node of an EXPLAIN (FORMAT JSON) plan that reads a table or an index."""
    found = []
    if isinstance(plan, dict):
        if "Relation Name" in plan or "Index Name" in plan:
            found.append(f"{plan['Node Type']} {plan.get('Index Name') or plan['Relation Name']}")
        for value in plan.values():
            found += scans(value)
    elif isinstance(plan, list):
        for item in plan:
            found += scans(item)
    return found


async def test_a_reply_s_number_is_found_by_index_hashed_or_not_yet(stack_env) -> None:  # type: ignore[no-untyped-def]
    hashed, unhashed = "+8613900000002", "+8613900000001"
    async with schema_pool(
        stack_env["DATABASE_URL"], "phoneidx", "notifications", max_size=1
    ) as pool:
        async with pool.acquire() as conn:
            await conn.execute(PATIENTS)
            await conn.execute(
                "INSERT INTO patients (patient_id, phone, phone_hash, sms_opt_out)"
                " VALUES ('P-hashed', 'sealed', $1, false), ('P-old', $2, NULL, false)",
                search_hash(hashed),
                unhashed,
            )
            await conn.execute("ANALYZE patients")
            # The plan a prepared statement settles on after its first executions (generic:
            # planned without the values; EXPLAIN of a statement given values would plan a
            # custom one).
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            await conn.execute(f"PREPARE by_phone(text, text) AS {BY_PHONE}")
            for phone, patient in ((hashed, "P-hashed"), (unhashed, "P-old")):
                found = await conn.fetch(BY_PHONE, phone, search_hash(phone))
                assert [r["patient_id"] for r in found] == [patient]
                explained = await conn.fetchval(
                    f"EXPLAIN (FORMAT JSON) EXECUTE by_phone('{phone}', '{search_hash(phone)}')"
                )
                read = scans(json.loads(explained))
                assert sorted(read) == [
                    "Bitmap Heap Scan patients",
                    "Bitmap Index Scan patients_phone_hash",
                    "Bitmap Index Scan patients_phone_unhashed",
                ], read
