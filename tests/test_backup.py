"""The offsets a restore puts the consumer groups back on (tools/devstack/devstack/backup.py);
the restore itself is proven on the real stack by tests/chaos/test_restore.py."""

from __future__ import annotations

from pathlib import Path

import pytest

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
