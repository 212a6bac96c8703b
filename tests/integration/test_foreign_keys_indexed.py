"""Every foreign key of every service's schema has an index on its referencing columns, on the
real PostgreSQL with the services' migrations. Without one, deleting a referenced row makes
PostgreSQL's check read the whole referencing table, once for every row deleted: the
notifications retention purge read `messages` twice for each message it destroyed until
migration 370 (bench/retention_purge.py)."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest

from tests.integration.schemas import schema_pool

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/migrations"))
# The foreign keys each schema has today: a count that falls to 0 means the check ran over
# nothing (a schema not migrated, a query that no longer finds its keys).
FOREIGN_KEYS = {"complaints": 4, "followup": 1, "notifications": 2}

# The foreign keys of the current schema whose columns no valid b-tree index leads with. A
# partial index counts only when its condition is the column's `IS NOT NULL` (what the key's
# check implies); included columns and expressions do not.
UNINDEXED = """
SELECT c.conrelid::regclass::text AS "table", c.conname AS "key",
       array(SELECT attname FROM pg_attribute a
              WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)) AS columns
  FROM pg_constraint c
 WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace
   AND NOT EXISTS (
       SELECT 1 FROM pg_index i
        WHERE i.indrelid = c.conrelid AND i.indisvalid
          AND (SELECT amname FROM pg_class ic JOIN pg_am am ON am.oid = ic.relam
                WHERE ic.oid = i.indexrelid) = 'btree'
          AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(c.conkey)]
              @> c.conkey
          AND cardinality(c.conkey) <= i.indnkeyatts
          AND (i.indpred IS NULL
               OR pg_get_expr(i.indpred, i.indrelid) = ALL (
                   SELECT format('(%I IS NOT NULL)', attname) FROM pg_attribute a
                    WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey))))
 ORDER BY 1, 2
"""


async def unindexed(conn: asyncpg.Connection) -> list[tuple[str, str, list[str]]]:
    return [(r["table"], r["key"], sorted(r["columns"])) for r in await conn.fetch(UNINDEXED)]


@pytest.mark.parametrize("service", SERVICES)
async def test_every_foreign_key_of_the_service_is_indexed(stack_env, service: str) -> None:  # type: ignore[no-untyped-def]
    async with schema_pool(stack_env["DATABASE_URL"], "fkidx", service, max_size=1) as pool:
        async with pool.acquire() as conn:
            keys = await conn.fetchval(
                "SELECT count(*) FROM pg_constraint"
                " WHERE contype = 'f' AND connamespace = current_schema()::regnamespace"
            )
            assert await unindexed(conn) == [], f"{service}: foreign keys without an index"
    assert keys == FOREIGN_KEYS.get(service, 0)


async def test_the_check_finds_a_key_without_an_index_and_accepts_each_kind_of_index(
    stack_env,
) -> None:  # type: ignore[no-untyped-def]
    schema = f"fkcheck_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:
        await conn.execute(f"CREATE SCHEMA {schema}; SET search_path TO {schema}")
        await conn.execute(
            """CREATE TABLE parent (id int PRIMARY KEY, a int, b int, UNIQUE (a, b));
               CREATE TABLE plain (p int REFERENCES parent (id));
               CREATE TABLE lead_index (p int REFERENCES parent (id), q int);
               CREATE INDEX ON lead_index (p, q);
               CREATE TABLE trail_index (p int REFERENCES parent (id), q int);
               CREATE INDEX ON trail_index (q, p);
               CREATE TABLE not_null (p int REFERENCES parent (id));
               CREATE INDEX ON not_null (p) WHERE p IS NOT NULL;
               CREATE TABLE other_pred (p int REFERENCES parent (id), s text);
               CREATE INDEX ON other_pred (p) WHERE s = 'x';
               CREATE TABLE pair (a int, b int, FOREIGN KEY (a, b) REFERENCES parent (a, b));
               CREATE INDEX ON pair (b, a);
               CREATE TABLE half (a int, b int, FOREIGN KEY (a, b) REFERENCES parent (a, b));
               CREATE INDEX ON half (a);
               CREATE TABLE included (p int REFERENCES parent (id), q int);
               CREATE INDEX ON included (q) INCLUDE (p);
               CREATE TABLE expression (p int REFERENCES parent (id));
               CREATE INDEX ON expression ((p + 0));
               CREATE TABLE ranged (p int REFERENCES parent (id));
               CREATE INDEX ON ranged USING brin (p);"""
        )
        found = {table for table, _, _ in await unindexed(conn)}
        assert found == {
            "plain", "trail_index", "other_pred", "half", "included", "expression", "ranged"
        }  # fmt: skip
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
