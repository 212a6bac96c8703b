"""The offsets a restore puts the consumer groups back on (tools/devstack/devstack/backup.py);
the restore itself is proven on the real stack by tests/chaos/test_restore.py."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from devstack import backup
from devstack.backup import (
    MANIFEST,
    Target,
    _new_folder,
    prune,
    scratch_name,
)
from devstack.backup_kafka import offsets_to_restore
from devstack.procs import StackError


def test_a_group_without_commits_at_the_backup_goes_back_to_the_start() -> None:
    """complaints.complaints had committed nothing when the backup was taken; what it handled
    after is not in the restored database (the real-stack run lost 3 of 5 cases so)."""
    recorded = {"followup.registrations": {"hospital.registrations.v1": {"0": 7, "3": 2}}}
    now = {
        "followup.registrations": {"hospital.registrations.v1": {"0": 9, "3": 5, "4": 1}},
        "complaints.complaints": {"hospital.complaints.v1": {"2": 3}},
    }
    assert offsets_to_restore(recorded, now) == {
        "complaints.complaints": {"hospital.complaints.v1": {}},
        "followup.registrations": {"hospital.registrations.v1": {"0": 7, "3": 2}},
    }


def test_a_topic_a_group_reads_since_the_backup_goes_back_to_the_start() -> None:
    recorded = {"notifications.notify": {"followup.tasks.v1": {"1": 4}}}
    now = {"notifications.notify": {"followup.tasks.v1": {"1": 6}, "staff.roster.v1": {"0": 2}}}
    assert offsets_to_restore(recorded, now)["notifications.notify"] == {
        "followup.tasks.v1": {"1": 4},
        "staff.roster.v1": {},
    }


def test_the_scratch_database_is_on_the_same_server_with_the_same_login() -> None:
    target = Target("postgresql://u:p@db:5432/hospital?sslmode=disable", "kafka:9092")
    assert target.name == "hospital"
    assert target.database("hospital_backup_check") == (
        "postgresql://u:p@db:5432/hospital_backup_check?sslmode=disable"
    )


def _backups(into: Path, finished: list[str], partial: list[str]) -> None:
    for name in finished:
        (into / name).mkdir()
        (into / name / MANIFEST).write_text("{}")
    for name in partial:
        (into / f"{name}.partial").mkdir()


def test_pruning_keeps_the_newest_finished_backups_and_never_a_partial_one(tmp_path: Path) -> None:
    _backups(tmp_path, ["20261201T0100", "20261202T0100", "20261203T0100"], ["20261204T0100"])
    gone = prune(tmp_path, keep=2)
    assert [p.name for p in gone] == ["20261201T0100"]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["20261202T0100", "20261203T0100", "20261204T0100.partial"]


def test_the_only_good_backup_is_never_pruned(tmp_path: Path) -> None:
    """However many failed attempts lie about, and whatever the setting says."""
    _backups(tmp_path, ["20261201T0100"], ["20261202T0100", "20261203T0100"])
    assert prune(tmp_path, keep=1) == []
    with pytest.raises(StackError, match="keep at least one"):
        prune(tmp_path, keep=0)
    assert (tmp_path / "20261201T0100" / MANIFEST).exists()


def test_each_backup_checks_into_a_scratch_database_of_its_own() -> None:
    target = Target("postgresql://u:p@db:5432/" + "h" * 63, "kafka:9092")
    names = {scratch_name(target) for _ in range(20)}
    assert len(names) == 20
    assert all(len(n.encode()) <= 63 and n.startswith("h" * 30 + "_backup_check_") for n in names)


def test_only_the_backups_owner_may_enter_its_folder(tmp_path: Path) -> None:
    """A dump holds patients' names, visits and complaints, and pg_dump writes it readable
    by everyone under the usual umask: the folders around it keep everyone else out."""
    into = tmp_path / "backups"
    partial = _new_folder(into)
    assert (into.stat().st_mode & 0o777, partial.stat().st_mode & 0o777) == (0o700, 0o700)
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    assert _new_folder(loose).stat().st_mode & 0o777 == 0o700  # an existing folder's own


def test_a_partial_folder_nothing_was_written_in_for_a_day_is_pruned(tmp_path: Path) -> None:
    """A backup killed before it could delete its own `.partial` (which may hold a whole dump
    of patients' data) left it forever; a younger one may be another backup still writing."""
    _backups(tmp_path, ["20261201T0100"], ["20261202T0100", "20261203T0100"])
    killed, running = tmp_path / "20261202T0100.partial", tmp_path / "20261203T0100.partial"
    (killed / "hospital.dump").write_bytes(b"PGDMP")
    (running / "hospital.dump").write_bytes(b"PGDMP")
    two_days_ago = time.time() - 2 * 86400
    for path in (killed / "hospital.dump", killed, running):  # the dump still being written
        os.utime(path, (two_days_ago, two_days_ago))
    assert prune(tmp_path, keep=1) == [killed]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20261201T0100", running.name]


def test_a_backup_whose_check_fails_deletes_its_partial_folder_and_dump(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """The dump was written, the check after it failed: the folder held a whole dump of
    patients' data and stayed there forever."""

    async def dump(target: Target, path: Path) -> dict[str, Any]:
        await asyncio.to_thread(path.write_bytes, b"PGDMP")
        return {"taken_at": "2026-12-07T08:00:00+00:00", "outbox": {}, "rows": {"a.t": 1}}

    async def check_fails(target: Target, path: Path, rows: dict[str, int]) -> dict[str, Any]:
        raise StackError("backup check: row counts differ after a test restore")

    async def no_offsets(bootstrap: str) -> dict[str, Any]:
        return {}

    monkeypatch.setattr(backup, "committed_offsets", no_offsets)
    monkeypatch.setattr(backup, "_dump_in_snapshot", dump)
    monkeypatch.setattr(backup, "verify", check_fails)
    target = Target("postgresql://u:p@127.0.0.1:1/hospital", "127.0.0.1:1")
    with pytest.raises(StackError, match="row counts differ"):
        asyncio.run(backup.take(target, tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_a_backup_with_kafka_unreachable_says_where_it_looked_and_leaves_nothing(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    """It was a KafkaConnectionError traceback, and a `.partial` folder left behind."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@127.0.0.1:1/hospital")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    assert backup.main(["take", "--env", "--dir", str(tmp_path)]) == 1
    assert "backup: Kafka at 127.0.0.1:1 cannot be reached" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
