"""PostgreSQL: one asyncpg pool per service, in the service's own schema, and forward-only
SQL migrations applied at start and recorded in `<schema>.schema_migrations`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")

# Errors that mean "the database is away for now", worth retrying with backoff.
TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.PostgresConnectionError,
    TimeoutError,
)


@dataclass(frozen=True, slots=True)
class Migration:
    source: str
    version: int
    name: str
    sql: str


def discover(folder: Path, source: str) -> list[Migration]:
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration {path} is not named NNN_verb_noun.sql")
        found.append(Migration(source, int(match.group(1)), path.stem, path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations in {folder} share a number")
    return found


async def migrate(conn: asyncpg.Connection, *, schema: str, folders: dict[str, Path]) -> list[str]:
    """Apply what is new, in order, in one transaction (all or none); return the names
    applied.

    `folders` maps a source name (`shared`, the service name) to its migrations folder. Safe
    with several instances starting at once: an advisory lock serialises them.
    """
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('migrate:' || $1))", schema)
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(f'SET LOCAL search_path TO "{schema}"')
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   source text NOT NULL, version int NOT NULL, name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (source, version))"""
        )
        done = {
            (r["source"], r["version"])
            for r in await conn.fetch("SELECT source, version FROM schema_migrations")
        }
        for source, folder in folders.items():
            for m in discover(folder, source):
                if (m.source, m.version) in done:
                    continue
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (source, version, name) VALUES ($1, $2, $3)",
                    m.source,
                    m.version,
                    m.name,
                )
                applied.append(f"{m.source}/{m.name}")
    return applied


async def keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset of a connection given back, after asyncpg has rolled back a
    transaction left open and forgotten the connection's listeners: nothing more. asyncpg's
    default then sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`, a
    round trip at every release (every batch, claim, relay pass and request) for session
    state this code never leaves: its advisory locks are transaction-scoped (but the inbox
    retention's, which terminates its connection rather than give it back locked), its settings
    `SET LOCAL`, no cursor outlives its transaction, and `background.listen` unlistens before
    it gives its connection back (tests/integration/test_listen_loops.py)."""


async def create_pool(
    dsn: str, *, schema: str, min_size: int = 1, max_size: int = 5
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": schema, "application_name": schema},
        command_timeout=30,
        reset=keep_session,
    )
    assert pool is not None
    return pool
