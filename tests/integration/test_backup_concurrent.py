"""Two backups at once on the real stack (PostgreSQL, Kafka): a cron job's and a hand-run
`make backup`. Each checks its dump in a scratch database of its own; with one shared name,
the second's `DROP DATABASE ... WITH (FORCE)` ended the first's check, or its `CREATE
DATABASE` found the name taken, and one of the two backups failed. And the age of the last
good backup, as the metrics service exports it."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from devstack.backup import MANIFEST, Target, load, take
from tests.integration.services import running
from tests.kafka_tools import eventually


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


async def test_the_metrics_service_exports_the_time_of_the_last_checked_backup(
    stack_config: Any, stack_env: dict[str, str], tmp_path: Path
) -> None:
    """`make backup` records a checked backup in metrics.backups; the metrics service exports
    its time as hospital_backup_last_success_timestamp_seconds, which BackupTooOld watches."""
    target = Target(stack_env["DATABASE_URL"], stack_env["KAFKA_BOOTSTRAP_SERVERS"])
    with running(stack_config, "metrics", {}) as metrics:  # its migrations make the table
        taken = load(await take(target, tmp_path))["taken_at"]
        expected = datetime.fromisoformat(taken).timestamp()

        async def exported() -> float | None:
            async with httpx.AsyncClient(base_url=metrics.url, timeout=10) as client:
                text = (await client.get("/metrics")).text
            found = re.search(r"^hospital_backup_last_success_timestamp_seconds (\S+)$", text, re.M)
            value = float(found.group(1)) if found else None
            return value if value and abs(value - expected) < 1 else None

        assert await eventually(exported, timeout=60, interval=1)
