"""The re-seal job: every sealed column's values moved to the current data encryption key,
a batch at a time, in the background (no downtime). It seals values written before encryption
(the migration of existing plaintext rows) and, after a key rotation, re-wraps values under an
earlier key (their data key only: `FieldCipher.rewrap`). Once it reports 0, the earlier key
may leave `DATA_ENCRYPTION_PREVIOUS_KEYS`.

A service declares its sealed columns (`ServiceRuntime.seals(table, *columns, hashes=...)`);
table and column names come from code, never from input. A column searched by its keyed hash
(`hashes`: hash column -> sealed column) gets that hash filled where it is missing (rows from
before encryption), from the opened value. Values sealed inside a JSON column, or in a table
that refuses a plain UPDATE (complaints' append-only audit), are moved by the service's own
batch function instead (`ServiceRuntime.reseals(table, batch)`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from prometheus_client import Gauge

from hospital_shared.field_crypto import PREFIX, cipher, search_hash

RESEAL_PENDING = Gauge(
    "hospital_values_not_under_current_key",
    "Sealed-column values found in the last re-seal pass not yet under the current key",
    ["service", "table"],
)


@dataclass(frozen=True, slots=True)
class SealedColumns:
    table: str
    columns: tuple[str, ...]
    hashes: tuple[tuple[str, str], ...] = ()  # (hash column, the sealed column it hashes)


@dataclass(frozen=True, slots=True)
class SealedBy:
    """A table whose sealed values its service moves itself: `batch(conn, batch_size)` moves
    up to that many rows to the current key in one transaction and returns how many."""

    table: str
    batch: Callable[[asyncpg.Connection, int], Awaitable[int]]


def _stale(sealed: SealedColumns) -> str:
    stale = [f"({c} IS NOT NULL AND left({c}, length($1)) <> $1)" for c in sealed.columns]
    stale += [f"({src} IS NOT NULL AND {h} IS NULL)" for h, src in sealed.hashes]
    return " OR ".join(stale)


async def reseal_batch(conn: asyncpg.Connection, sealed: SealedColumns, *, batch_size: int) -> int:
    """Move up to `batch_size` rows of `sealed.table` to the current key, in one transaction
    (rows another transaction holds are skipped, to be taken next time); returns how many."""
    c = cipher()
    current = f"{PREFIX}{c.current_id}:"
    cols, hashed = sealed.columns, [h for h, _ in sealed.hashes]
    async with conn.transaction():
        rows = await conn.fetch(
            f"SELECT ctid::text AS rid, {', '.join(cols)} FROM {sealed.table}"
            f" WHERE {_stale(sealed)} LIMIT $2 FOR UPDATE SKIP LOCKED",
            current,
            batch_size,
        )
        if not rows:
            return 0
        names = ", ".join(("rid", *cols, *hashed))
        arrays = ", ".join(f"${i + 1}::text[]" for i in range(len(cols) + len(hashed) + 1))
        sets = ", ".join(f"{col} = u.{col}" for col in (*cols, *hashed))
        await conn.execute(
            f"UPDATE {sealed.table} t SET {sets} FROM unnest({arrays}) AS u({names})"
            " WHERE t.ctid = u.rid::tid",
            [r["rid"] for r in rows],
            *([c.rewrap(r[col]) for r in rows] for col in cols),
            *([search_hash(c.open(r[src])) for r in rows] for _, src in sealed.hashes),
        )
    return len(rows)


async def reseal_all(
    pool: asyncpg.Pool,
    tables: list[SealedColumns | SealedBy],
    *,
    service: str,
    batch_size: int,
) -> int:
    """One pass over every sealed table: a batch each; returns the rows moved."""
    moved = 0
    async with pool.acquire() as conn:
        for sealed in tables:
            if isinstance(sealed, SealedBy):
                n = await sealed.batch(conn, batch_size)
            else:
                n = await reseal_batch(conn, sealed, batch_size=batch_size)
            RESEAL_PENDING.labels(service, sealed.table).set(n)
            moved += n
    return moved
