"""Backup mid-stream, the database lost, restored, Kafka re-read from the recorded offsets:
the end state equals the stream's expected one, no SMS twice at the operator, replayed
events skipped by the inboxes (tests/chaos/restore.py says how).

The small case runs in `make test` (240 events; about 3 min on the loaded 2-core machine);
the larger one in `make chaos` (CHAOS_FULL=1: 1,200 events, PostgreSQL crashed during the
backup, whose first attempt then fails and is taken again)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from devstack import backup, backup_kafka
from hospital_shared.topics import DISCHARGES
from tests.chaos.effects import table
from tests.chaos.restore import forget_restores, postgres_crash_during_backup, run_restore_case
from tests.chaos.scenario import ChaosPlan
from tests.kafka_tools import commit, committed, publish

pytestmark = [pytest.mark.stack, pytest.mark.chaos]


def _plan(events: int, rate: float) -> ChaosPlan:
    return ChaosPlan(
        events=events, rate=rate, kill_rounds=0, restart_postgres=False, restart_kafka=False,
        kannel_stop_s=0, rebalance_kills=(), converge_timeout_s=300.0, oversized_record=False,
    )  # fmt: skip


async def _run(cfg: Any, env: dict[str, str], plan: ChaosPlan, **kwargs: Any) -> None:
    result = await run_restore_case(cfg, env, plan, **kwargs)
    report = table(result.faults, result.checks)
    print(report)
    assert result.ok, report


@pytest.mark.timeout(1200)
async def test_restore_from_a_mid_stream_backup_ends_with_exactly_the_expected_effects(
    stack_config: Any, stack_env: dict[str, str]
) -> None:
    await _run(stack_config, stack_env, _plan(240, 12.0), seed=31)


@pytest.mark.skipif(not os.environ.get("CHAOS_FULL"), reason="the full chaos run: CHAOS_FULL=1")
@pytest.mark.timeout(1800)
async def test_full_restore_with_postgres_crashed_during_the_backup(
    stack_config: Any, stack_env: dict[str, str]
) -> None:
    plan, fault = _plan(1200, 25.0), postgres_crash_during_backup
    await _run(stack_config, stack_env, plan, seed=32, backup_fault=fault)


async def test_a_restore_is_refused_while_a_consumer_group_has_members(
    stack_env: dict[str, str],
) -> None:
    """The broker refuses the offset reset of a group with members (a service still runs):
    the restore stops there, before it touches the database; once the member is gone the
    same reset is taken."""
    bootstrap, group = stack_env["KAFKA_BOOTSTRAP_SERVERS"], "restore-test.busy"
    offsets = {group: {DISCHARGES: {"0": 0}}}
    member = AIOKafkaConsumer(
        DISCHARGES, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await member.start()
    try:
        for _ in range(60):  # joined once it has partitions
            if member.assignment():
                break
            await member.getmany(timeout_ms=500)
        assert member.assignment()
        with pytest.raises(backup_kafka.GroupBusy):
            await backup_kafka.reset_offsets(bootstrap, offsets)
    finally:
        await member.stop()
    await backup_kafka.reset_offsets(bootstrap, offsets)
    assert (await backup_kafka.committed_offsets(bootstrap))[group][DISCHARGES]["0"] == 0


@pytest.mark.timeout(600)
async def test_a_restore_past_kafkas_retention_is_refused_unless_the_loss_is_accepted(
    stack_env: dict[str, str], tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    """Retention deleted events after the backup's offsets (`delete_records`, what it does to
    an old backup's): they are in neither the dump nor Kafka. The restore used to go ahead
    and exit 0, its consumers reset to the earliest offset (400 events never handled in the
    audit's run). It is refused before it changes anything, naming group, topic, partition
    and count; with --accept-loss it goes ahead, warns with the same list, and puts the
    group on the partition's start."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic, group = f"restore-test.retention.{uuid.uuid4().hex[:6]}", "restore-test.retention"
    monkeypatch.setenv("DATABASE_URL", stack_env["DATABASE_URL"])
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
    target = backup.Target(stack_env["DATABASE_URL"], bootstrap)
    tp = TopicPartition(topic, 0)
    await publish(bootstrap, topic, [(None, b"before %d" % i) for i in range(5)])
    await commit(bootstrap, group, {tp: 2})
    await _sql(target, "CREATE SCHEMA retention_probe")
    await _sql(target, "CREATE TABLE retention_probe.t (n int)")
    try:
        folder = await backup.take(target, tmp_path)
        await publish(bootstrap, topic, [(None, b"after %d" % i) for i in range(10)])
        await _delete_records(bootstrap, tp, 15)
        await _sql(target, "INSERT INTO retention_probe.t VALUES (1)")  # after the backup
        refused = await asyncio.to_thread(backup.main, ["restore", str(folder), "--env"])
        lost = f"group {group}, topic {topic}, partition 0: 13 events lost"
        assert refused == 1 and lost in capsys.readouterr().err
        assert await _sql(target, "SELECT count(*) FROM retention_probe.t") == 1  # untouched
        assert (await committed(bootstrap, group))[tp] == 2
        args = ["restore", str(folder), "--env", "--accept-loss"]
        assert await asyncio.to_thread(backup.main, args) == 0
        warning = capsys.readouterr().err
        assert "WARNING: Kafka no longer holds 13 events" in warning and lost in warning
        assert await _sql(target, "SELECT count(*) FROM retention_probe.t") == 0  # restored
        assert (await committed(bootstrap, group))[tp] == 15
    finally:
        await _sql(target, "DROP SCHEMA IF EXISTS retention_probe CASCADE")
        await forget_restores(stack_env)


async def _sql(target: backup.Target, query: str) -> Any:
    conn = await asyncpg.connect(target.database_url)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def _delete_records(bootstrap: str, tp: TopicPartition, before: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_records({tp: RecordsToDelete(before_offset=before)}, timeout_ms=10000)
    finally:
        await admin.close()
