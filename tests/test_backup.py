"""The offsets a restore puts the consumer groups back on (tools/devstack/devstack/backup.py);
the restore itself is proven on the real stack by tests/chaos/test_restore.py."""

from __future__ import annotations

from devstack.backup import Target, offsets_to_restore


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
