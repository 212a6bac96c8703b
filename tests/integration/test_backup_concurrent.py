"""Two backups at once on the real stack (PostgreSQL, Kafka): a cron job's and a hand-run
`make backup`. Each checks its dump in a scratch database of its own; with one shared name,
the second's `DROP DATABASE ... WITH (FORCE)` ended the first's check, or its `CREATE
DATABASE` found the name taken, and one of the two backups failed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from devstack.backup import MANIFEST, Target, load, take


async def test_two_backups_taken_at_once_both_succeed_and_leave_no_scratch_database(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    target = Target(stack_env["DATABASE_URL"], stack_env["KAFKA_BOOTSTRAP_SERVERS"])
    db = await asyncpg.connect(target.database_url)
    try:  # something to dump and count, whichever services ran before
        await db.execute("CREATE SCHEMA backup_probe; CREATE TABLE backup_probe.t (n int);"
                         " INSERT INTO backup_probe.t SELECT generate_series(1, 1000)")  # fmt: skip
        first, second = await asyncio.gather(
            take(target, tmp_path / "cron"), take(target, tmp_path / "by-hand")
        )
        left = await db.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{target.name}_backup_check%"
        )
    finally:
        await db.execute("DROP SCHEMA IF EXISTS backup_probe CASCADE")
        await db.close()
    for folder in (first, second):
        manifest = load(folder)
        assert (folder / MANIFEST).exists() and manifest["rows"]["backup_probe.t"] == 1000
        assert manifest["verified"]["rows"] >= 1000
    assert left == []
