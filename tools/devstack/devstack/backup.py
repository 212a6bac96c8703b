"""`make backup` / `make restore BACKUP=...`: a consistent backup of the platform's database
with the Kafka positions it goes with, checked before it counts, and the way back to it.

Why `pg_dump` and not `pg_basebackup` with WAL archiving: the five services live in ONE
database (`hospital`, a schema each), so one `pg_dump` is one snapshot of all of them, taken
in a single repeatable-read transaction: every service's tables, inbox and outbox as of one
instant, without stopping anything. What happened after that instant is not taken from a
WAL archive but replayed from Kafka (the hospital systems' events, and the services' own
events, are still there, as long as the topics' retention is longer than the time between
two backups; a restore checks it and refuses to lose events: `lost_events`). Point-in-time
recovery would add the cost of a WAL archive and a base backup chain, and would bring back
what Kafka cannot: staff actions over HTTP after the backup (see "what cannot be replayed"
in the README's restore runbook).

The consistency point. Consumers commit their Kafka offsets only after their database
transaction committed (shared/hospital_shared/consumer.py). So offsets read at time T0 cover
only events whose effects were committed before T0; the snapshot, exported at T1 > T0, holds
all of them and perhaps more. Restored, the consumers go back to the T0 offsets and handle
again what lies between: what the snapshot already has, the inbox skips (same event id);
what it does not, they do again, and the outgoing events it makes carry the same
(deterministic) ids as the first time, so the next consumer's inbox skips those too.

A backup is a folder `<dir>/<UTC time>/` with `hospital.dump` (`pg_dump -Fc`) and
`backup.json`: the committed offsets of every consumer group, each service's outbox position
and every table's row count, both read in the dump's own snapshot (`pg_export_snapshot`),
and the check: the dump restored into a scratch database whose row counts must match. Only
then is the folder given its final name and the success recorded (`metrics.backups`, read by
the metrics service as `hospital_backup_last_success_timestamp_seconds`); a failed or
interrupted backup deletes its `.partial` folder and leaves no record. After a good backup,
the oldest finished ones beyond the newest `--keep` (BACKUP_KEEP, default 7, at least 1) are
deleted: the backup just taken is always kept, and a `.partial` folder is never counted, and
deleted only once nothing was written in it for a day (a killed backup's; a younger one may be
another backup still running).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from devstack.backup_kafka import (
    EventsLost,
    committed_offsets,
    loss_report,
    lost_events,
    offsets_to_restore,
    reset_offsets,
)
from devstack.procs import StackError
from devstack.system import PG_BIN

DUMP = "hospital.dump"
MANIFEST = "backup.json"
FORMAT = 1
DEFAULT_KEEP = 7
STALE_PARTIAL_S = 24 * 3600  # a `.partial` folder idle this long is a failed backup's


@dataclass(frozen=True)
class Target:
    """Where the data lives: the database (DATABASE_URL) and the Kafka cluster."""

    database_url: str
    bootstrap: str

    def database(self, name: str) -> str:
        """The same server and login, another database."""
        parts = urlsplit(self.database_url)
        return urlunsplit(parts._replace(path=f"/{name}"))

    @property
    def name(self) -> str:
        return urlsplit(self.database_url).path.lstrip("/")


def _tool(name: str) -> str:
    """A PostgreSQL client program: Debian's 15 when installed (the server's version), else
    the one on PATH (the compose image)."""
    local = PG_BIN / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise StackError(f"{name} not found (PostgreSQL client programs)")
    return found


def _run(argv: list[str], what: str, timeout: float = 600) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise StackError(f"{what} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


# --- PostgreSQL ---------------------------------------------------------------------------

_TABLES = """SELECT table_schema, table_name FROM information_schema.tables
 WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
 ORDER BY 1, 2"""


async def row_counts(conn: asyncpg.Connection) -> dict[str, int]:
    counts = {}
    for r in await conn.fetch(_TABLES):
        name = f'"{r["table_schema"]}"."{r["table_name"]}"'
        counts[f"{r['table_schema']}.{r['table_name']}"] = int(
            await conn.fetchval(f"SELECT count(*) FROM {name}")
        )
    return counts


async def outbox_positions(conn: asyncpg.Connection) -> dict[str, dict[str, int | None]]:
    """Per service schema: the outbox's highest id, the highest published one, how many wait."""
    out: dict[str, dict[str, int | None]] = {}
    for r in await conn.fetch(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox' ORDER BY 1"
    ):
        schema = r["table_schema"]
        row = await conn.fetchrow(
            f"SELECT max(id) AS last, max(id) FILTER (WHERE published_at IS NOT NULL) AS published,"
            f' count(*) FILTER (WHERE published_at IS NULL) AS waiting FROM "{schema}".outbox'
        )
        out[schema] = {"last_id": row["last"], "last_published_id": row["published"],
                       "unpublished": row["waiting"]}  # fmt: skip
    return out


async def _dump_in_snapshot(target: Target, dump: Path) -> dict[str, Any]:
    """pg_dump in a snapshot exported by a transaction that also reads the outbox positions
    and row counts: all three describe the same instant."""
    conn = await asyncpg.connect(target.database_url)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            taken_at = await conn.fetchval("SELECT now()")
            outbox = await outbox_positions(conn)
            rows = await row_counts(conn)
            argv = [_tool("pg_dump"), "-Fc", f"--snapshot={snapshot}", "-f", str(dump),
                    f"--dbname={target.database_url}"]  # fmt: skip
            await asyncio.to_thread(_run, argv, "pg_dump")
            await asyncio.to_thread(dump.chmod, 0o600)
    finally:
        await conn.close()
    return {"taken_at": taken_at.isoformat(), "outbox": outbox, "rows": rows}


async def _restore_into(target: Target, name: str, dump: Path) -> None:
    """Drop database `name` (its sessions ended), create it empty, pg_restore `dump` into it."""
    admin = await asyncpg.connect(target.database("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    argv = [_tool("pg_restore"), "--exit-on-error", "--no-owner",
            f"--dbname={target.database(name)}", str(dump)]  # fmt: skip
    await asyncio.to_thread(_run, argv, f"pg_restore into {name}")


async def verify(target: Target, dump: Path, expected_rows: dict[str, int]) -> dict[str, Any]:
    """Restore the dump into a scratch database and compare every table's row count with
    the counts read in the dump's snapshot; the scratch database is dropped afterwards."""
    scratch = scratch_name(target)
    started = time.monotonic()
    try:
        await _restore_into(target, scratch, dump)
        conn = await asyncpg.connect(target.database(scratch))
        try:
            got = await row_counts(conn)
        finally:
            await conn.close()
    finally:
        await _drop_scratch(target, scratch)
    wrong = {t: (n, got.get(t)) for t, n in expected_rows.items() if got.get(t) != n}
    if wrong or set(got) != set(expected_rows):
        raise StackError(f"backup check: row counts differ after a test restore: {wrong}")
    return {"method": "pg_restore into a scratch database, row count of every table",
            "tables": len(got), "rows": sum(got.values()),
            "seconds": round(time.monotonic() - started, 1)}  # fmt: skip


async def _drop_scratch(target: Target, scratch: str, *, tries: int = 20) -> None:
    """Drop the scratch database. An autovacuum worker PostgreSQL started on the tables just
    restored is not the backup role's process: WITH (FORCE) may not terminate it
    (InsufficientPrivilegeError) and is tried again once it has gone (it is short)."""
    admin = await asyncpg.connect(target.database("postgres"))
    try:
        for attempt in range(1, tries + 1):
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
                return
            except asyncpg.InsufficientPrivilegeError:
                if attempt == tries:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await admin.close()


def scratch_name(target: Target) -> str:
    """A scratch database name of this backup alone: two backups checked at once (a cron job
    and a hand-run `make backup`) would otherwise drop each other's scratch database. Within
    PostgreSQL's 63-byte identifiers."""
    return f"{target.name[:30]}_backup_check_{os.getpid()}_{secrets.token_hex(4)}"


def prune(into: Path, keep: int) -> list[Path]:
    """Delete the finished backups under `into` but the newest `keep` (at least 1: the newest
    good backup is never deleted), and the `.partial` folders nothing was written in for a
    day (`STALE_PARTIAL_S`: a backup killed before it could delete its own; a younger one
    may be another backup still running); returns those deleted."""
    if keep < 1:
        raise StackError("keep at least one backup (BACKUP_KEEP >= 1)")  # the newest is good
    done = sorted(p for p in into.iterdir() if p.is_dir() and (p / MANIFEST).exists())
    old = done[:-keep]
    for folder in old:
        shutil.rmtree(folder)
    now = time.time()
    stale = sorted(
        p for p in into.glob("*.partial") if p.is_dir() and _idle_s(p, now) > STALE_PARTIAL_S
    )
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)  # its own backup may be deleting it too
    return old + stale


def _idle_s(folder: Path, now: float) -> float:
    """Seconds since anything was written in `folder` (a dump being written is)."""
    try:
        written = [folder.stat().st_mtime, *(f.stat().st_mtime for f in folder.iterdir())]
    except FileNotFoundError:  # deleted meanwhile
        return 0.0
    return now - max(written)


async def _record_success(target: Target, manifest: dict[str, Any], folder: Path) -> None:
    """A row in `metrics.backups` (migration 070), which the metrics service exports as the
    time of the last good backup; skipped (with a note) on a database without that table."""
    conn = await asyncpg.connect(target.database_url)
    try:
        if await conn.fetchval("SELECT to_regclass('metrics.backups')") is None:
            print("backup: no metrics.backups table (metrics service not migrated): not recorded")
            return
        await conn.execute(
            "INSERT INTO metrics.backups (taken_at, location, size_bytes) VALUES ($1, $2, $3)"
            " ON CONFLICT (taken_at) DO NOTHING",
            datetime.fromisoformat(manifest["taken_at"]),
            str(folder),
            manifest["size_bytes"],
        )
    finally:
        await conn.close()


# --- the two commands ---------------------------------------------------------------------


async def take(target: Target, into: Path, keep: int = DEFAULT_KEEP) -> Path:
    """Take, check and record one backup under `into`, then prune the older ones (`prune`);
    its folder. A backup that fails deletes its `.partial` folder (it may hold a whole dump)."""
    if keep < 1:
        raise StackError("keep at least one backup (BACKUP_KEEP >= 1)")
    partial = await asyncio.to_thread(_new_folder, into)
    try:
        manifest = await _take_into(target, partial)
        final = await asyncio.to_thread(_finish, partial, manifest)
    except BaseException:  # interrupted too (Ctrl-C, a cancelled task)
        shutil.rmtree(partial, ignore_errors=True)
        raise
    await _record_success(target, manifest, final)
    for folder in await asyncio.to_thread(prune, into, keep):
        why = "failed, untouched for a day" if folder.suffix == ".partial" else f"keeping {keep}"
        print(f"backup: pruned {folder.name} ({why})")
    return final


async def _take_into(target: Target, partial: Path) -> dict[str, Any]:
    """The offsets, the dump in `partial` and its check: the backup's manifest."""
    offsets = await committed_offsets(target.bootstrap)  # BEFORE the snapshot (docstring)
    offsets_read_at = datetime.now(UTC).isoformat()
    snap = await _dump_in_snapshot(target, partial / DUMP)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "method": "pg_dump -Fc of the whole database, in one exported snapshot",
        "database": target.name,
        "dump": DUMP,
        "size_bytes": (partial / DUMP).stat().st_size,
        "kafka_offsets_read_at": offsets_read_at,
        "kafka_offsets": offsets,
        **snap,
    }
    manifest["verified"] = await verify(target, partial / DUMP, snap["rows"])
    return manifest


def _new_folder(into: Path) -> Path:
    """`<into>/<UTC time>.partial`: renamed without the suffix once the backup is checked.
    Only its owner may enter it: a dump holds patients' names, visits and complaints (pg_dump
    writes its file readable by everyone, under the usual umask)."""
    into.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = into / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}.partial"
    partial.mkdir(mode=0o700)
    partial.chmod(0o700)  # whatever the umask
    return partial


def _finish(partial: Path, manifest: dict[str, Any]) -> Path:
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    final = partial.with_suffix("")
    partial.rename(final)
    return final


def load(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.exists():
        raise StackError(f"{folder}: no {MANIFEST}: not a finished, checked backup")
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != FORMAT or "verified" not in manifest:
        raise StackError(f"{folder}: not a checked backup of format {FORMAT}")
    return manifest


async def restore(target: Target, folder: Path, *, accept_loss: bool = False) -> dict[str, Any]:
    """Bring the database and the consumer groups back to the backup in `folder`. The
    services must be stopped (a group with members refuses the reset: `GroupBusy`).
    Refused before anything is touched (`EventsLost`) when Kafka no longer holds events
    after a recorded offset, unless `accept_loss`: then the list is printed as a warning.
    Afterwards the notifications service knows of the restore (`notifications.restores`)
    and checks the gateway's records before it hands over an SMS (restore_check.py)."""
    manifest = load(folder)
    lost = await lost_events(target.bootstrap, manifest["kafka_offsets"])
    if lost and not accept_loss:
        raise EventsLost(
            f"{loss_report(lost)}\nNothing was changed. Restore anyway, without them:"
            " --accept-loss (make restore ACCEPT_LOSS=1)"
        )
    if lost:
        print(f"backup: WARNING: {loss_report(lost)}", file=sys.stderr)
    wanted = offsets_to_restore(
        manifest["kafka_offsets"], await committed_offsets(target.bootstrap)
    )
    await reset_offsets(target.bootstrap, wanted)  # first: see there
    await _restore_into(target, target.name, folder / manifest["dump"])
    conn = await asyncpg.connect(target.database_url)
    try:
        if await conn.fetchval("SELECT to_regclass('notifications.restores')") is not None:
            await conn.execute(
                "INSERT INTO notifications.restores (backup_taken_at) VALUES ($1)",
                datetime.fromisoformat(manifest["taken_at"]),
            )
    finally:
        await conn.close()
    await _record_success(target, manifest, folder)
    return manifest


def latest(into: Path) -> Path:
    """The newest finished backup under `into`."""
    done = sorted(p for p in into.iterdir() if (p / MANIFEST).exists()) if into.exists() else []
    if not done:
        raise StackError(f"no finished backup under {into}")
    return done[-1]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="devstack-backup", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("take", "restore"))
    parser.add_argument("backup", nargs="?", help="restore: a backup folder (default: newest)")
    parser.add_argument("--dir", help="where backups go (default: <state>/backups)")
    parser.add_argument("--test", action="store_true", help="the test stack")
    parser.add_argument(
        "--keep", type=int, default=int(os.environ.get("BACKUP_KEEP", DEFAULT_KEEP)),
        help=f"take: finished backups kept, the newest (BACKUP_KEEP, default {DEFAULT_KEEP})",
    )  # fmt: skip
    parser.add_argument(
        "--env", action="store_true", help="DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS from the "
        "environment (compose) instead of the native stack",
    )  # fmt: skip
    parser.add_argument(
        "--accept-loss", action="store_true", help="restore: also when Kafka no longer holds "
        "events after the recorded offsets (they are lost; listed as a warning)",
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    from devstack.config import StackConfig

    args = _parser().parse_args(argv)
    cfg = StackConfig.for_tests() if args.test else StackConfig.default()
    if args.env:
        target = Target(os.environ["DATABASE_URL"], os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    else:
        target = Target(cfg.database_url, cfg.kafka_bootstrap)
    into = Path(args.dir) if args.dir else cfg.state_dir / "backups"
    try:
        if args.command == "take":
            folder = asyncio.run(take(target, into, args.keep))
            print(f"backup taken and checked: {folder}")
        else:
            folder = Path(args.backup) if args.backup else latest(into)
            if not args.env:  # a stopped native stack: its PostgreSQL and Kafka, no service
                from devstack import stack

                stack.up(cfg, with_services=False)
            manifest = asyncio.run(restore(target, folder, accept_loss=args.accept_loss))
            print(f"restored {folder} (taken {manifest['taken_at']}); start the services now")
        return 0
    except StackError as exc:
        print(f"backup: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
