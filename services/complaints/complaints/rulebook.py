"""The hospital's classification rules as the service uses them: seeded once, read through a
short-lived cache (an edit on one instance reaches the others within `ttl_s`)."""

from __future__ import annotations

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
