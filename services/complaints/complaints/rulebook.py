"""The hospital's classification rules as the service uses them: seeded once, read through a
short-lived cache (an edit on one instance reaches the others within `ttl_s`)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from complaints.classifier import CategoryRule
from complaints.default_rules import default_rules
from complaints.domain import Category

Row = dict[str, Any]

SEED_MARKER = "category_rules.v1"


def _rule(row: asyncpg.Record) -> CategoryRule:
    return CategoryRule(
        id=row["id"],
        category=Category(row["category"]),
        keyword=row["keyword"],
        serious=row["serious"],
        position=row["position"],
        enabled=row["enabled"],
    )


async def category_rules(conn: asyncpg.Connection) -> list[CategoryRule]:
    rows = await conn.fetch("SELECT * FROM category_rules ORDER BY position, id")
    return [_rule(r) for r in rows]


async def category_rule_rows(conn: asyncpg.Connection) -> list[Row]:
    return [dict(r) for r in await conn.fetch("SELECT * FROM category_rules ORDER BY position, id")]


def list_version(rows: Sequence[Row]) -> str:
    """What a list of the rules was read as: any rule added, removed or changed (every change
    sets `updated_at`) gives another. A reorder names the version it was computed from."""
    seen = "\n".join(f"{r['id']}:{r['position']}:{r['updated_at'].isoformat()}" for r in rows)
    return hashlib.sha256(seen.encode()).hexdigest()[:20]


class StaleOrder(Exception):
    """The rules are no longer the list the order was computed from (`version`)."""


class NotTheRules(ValueError):
    """The order does not name each rule exactly once."""


async def reorder_rules(
    conn: asyncpg.Connection, ids: Sequence[int], *, version: str, by: str
) -> list[Row]:
    """Number the rules in tens in the order `ids` gives, in one transaction: a reader (the
    classifier's cache) sees the old order or the new one, never half of it. The table is
    locked against other writers first (a PATCH, another reorder wait), so a list read before
    one of them committed is refused (`StaleOrder`), not interleaved. Only the rules whose
    position changes are written (their `updated_by` says who moved them)."""
    async with conn.transaction():
        await conn.execute("LOCK TABLE category_rules IN SHARE ROW EXCLUSIVE MODE")
        rows = await category_rule_rows(conn)
        if list_version(rows) != version:
            raise StaleOrder(list_version(rows))
        if sorted(ids) != sorted(r["id"] for r in rows):
            raise NotTheRules("the order must name each rule exactly once")
        await conn.execute(
            "UPDATE category_rules AS r SET position = n.position, updated_by = $3,"
            " updated_at = now() FROM unnest($1::bigint[], $2::int[]) AS n(id, position)"
            " WHERE r.id = n.id AND r.position <> n.position",
            list(ids),
            [(n + 1) * 10 for n in range(len(ids))],
            by,
        )
        return await category_rule_rows(conn)


async def seed_once(conn: asyncpg.Connection, marker: str) -> bool:
    """True the first time `marker` is claimed (so seeding happens once, on one instance)."""
    claimed = await conn.fetchval(
        "INSERT INTO seed_markers (name) VALUES ($1) ON CONFLICT DO NOTHING RETURNING name", marker
    )
    return claimed is not None


async def insert_rules(conn: asyncpg.Connection, rules: Sequence[CategoryRule], *, by: str) -> None:
    await conn.executemany(
        "INSERT INTO category_rules (category, keyword, serious, position, enabled, updated_by)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (category, keyword) DO NOTHING",
        [(r.category.value, r.keyword, r.serious, r.position, r.enabled, by) for r in rules],
    )


async def upsert_rule(conn: asyncpg.Connection, rule: Row, *, by: str) -> Row:
    row = await conn.fetchrow(
        "INSERT INTO category_rules (category, keyword, serious, position, enabled, note,"
        " updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (category, keyword) DO UPDATE SET serious = EXCLUDED.serious,"
        " position = EXCLUDED.position, enabled = EXCLUDED.enabled, note = EXCLUDED.note,"
        " updated_by = EXCLUDED.updated_by, updated_at = now() RETURNING *",
        rule["category"],
        rule["keyword"],
        rule["serious"],
        rule["position"],
        rule["enabled"],
        rule.get("note"),
        by,
    )
    assert row is not None
    return dict(row)


async def update_rule(
    conn: asyncpg.Connection, rule_id: int, changes: Row, *, by: str
) -> Row | None:
    if not changes:
        row = await conn.fetchrow("SELECT * FROM category_rules WHERE id = $1", rule_id)
        return dict(row) if row else None
    sets = ", ".join(f"{col} = ${i}" for i, col in enumerate(changes, start=3))
    row = await conn.fetchrow(
        f"UPDATE category_rules SET {sets}, updated_by = $2, updated_at = now()"
        " WHERE id = $1 RETURNING *",
        rule_id,
        by,
        *changes.values(),
    )
    return dict(row) if row else None


async def seed_rules(conn: asyncpg.Connection) -> bool:
    """Insert the default rules the first time the service starts; never again, so rules the
    hospital deleted or changed stay as the hospital left them."""
    async with conn.transaction():
        if not await seed_once(conn, SEED_MARKER):
            return False
        await insert_rules(conn, default_rules(), by="seed")
        return True


class RuleBook:
    def __init__(self, ttl_s: float = 5.0) -> None:
        self._ttl_s = ttl_s
        self._rules: list[CategoryRule] | None = None
        self._loaded_at = 0.0

    async def rules(self, conn: asyncpg.Connection) -> list[CategoryRule]:
        if self._rules is None or time.monotonic() - self._loaded_at > self._ttl_s:
            self._rules = await category_rules(conn)
            self._loaded_at = time.monotonic()
        return self._rules

    def invalidate(self) -> None:
        self._rules = None
