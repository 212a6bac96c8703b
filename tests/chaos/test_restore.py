"""Backup mid-stream, the database lost, restored, Kafka re-read from the recorded offsets:
the end state equals the stream's expected one, no SMS twice at the operator, replayed
events skipped by the inboxes (tests/chaos/restore.py says how).

The small case runs in `make test` (240 events; about 3 min on the loaded 2-core machine);
the larger one in `make chaos` (CHAOS_FULL=1: 1,200 events, PostgreSQL crashed during the
backup, whose first attempt then fails and is taken again)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from devstack import backup_kafka
from hospital_shared.topics import DISCHARGES
from tests.chaos.effects import table
from tests.chaos.restore import postgres_crash_during_backup, run_restore_case
from tests.chaos.scenario import ChaosPlan

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
