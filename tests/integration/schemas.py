"""Throwaway schemas on the stack's PostgreSQL, migrated like a service's own."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from hospital_shared import db

ROOT = Path(__file__).resolve().parents[2]


def migrations(service: str) -> Path:
    return ROOT / "services" / service / "migrations"


async def new_schema(dsn: str, prefix: str, service: str, *, max_size: int = 5) -> asyncpg.Pool:
    """A new schema `<prefix>_<random>` with the shared and `service`'s migrations applied;
    a pool on it (its search path)."""
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dsn)
    try:
        folders = {"shared": db.SHARED_MIGRATIONS, service: migrations(service)}
        await db.migrate(conn, schema=schema, folders=folders)
    finally:
        await conn.close()
    return await db.create_pool(dsn, schema=schema, max_size=max_size)


@contextlib.asynccontextmanager
async def schema_pool(
    dsn: str, prefix: str, service: str, *, max_size: int = 5
) -> AsyncIterator[asyncpg.Pool]:
    """`new_schema`'s pool, closed on the way out."""
    pool = await new_schema(dsn, prefix, service, max_size=max_size)
    try:
        yield pool
    finally:
        await pool.close()
