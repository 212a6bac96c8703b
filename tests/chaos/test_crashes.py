"""The crash cases (`crashes.py`), each on its own stream: PostgreSQL crashed with
`pg_ctl -m immediate`, the Kafka broker SIGKILLed, a consumer SIGSTOPped past its session
timeout, and, on a three-broker stack (DEVSTACK_KAFKA_BROKERS=3), the leading broker killed
twice. Part of the full chaos run (`make chaos`, CHAOS_FULL=1); each ends with exactly the
expected effects, and no service process was restarted."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.chaos import crashes
from tests.chaos.effects import table

pytestmark = [
    pytest.mark.stack,
    pytest.mark.chaos,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(not os.environ.get("CHAOS_FULL"), reason="the full chaos run: CHAOS_FULL=1"),
]


async def _run(cfg: Any, env: dict[str, str], fault: crashes.Fault, events: int, seed: int) -> None:
    result = await crashes.run_case(cfg, env, fault, crashes.plan(events), seed=seed)
    print(table(result.faults, result.checks))
    assert result.ok, table(result.faults, result.checks)


async def test_full_postgres_crash_immediate(stack_config: Any, stack_env: dict[str, str]) -> None:
    await _run(stack_config, stack_env, crashes.postgres_crash, 900, seed=21)


async def test_full_kafka_broker_sigkill(stack_config: Any, stack_env: dict[str, str]) -> None:
    if stack_config.kafka_brokers != 1:
        pytest.skip("one broker: the cluster case kills brokers of a cluster")
    await _run(stack_config, stack_env, crashes.kafka_sigkill, 900, seed=22)


async def test_full_consumer_sigstop_past_session_timeout(
    stack_config: Any, stack_env: dict[str, str]
) -> None:
    await _run(stack_config, stack_env, crashes.consumer_sigstop, 1200, seed=23)


async def test_full_cluster_leader_broker_sigkill_twice(
    stack_config: Any, stack_env: dict[str, str]
) -> None:
    if stack_config.kafka_brokers < 3:
        pytest.skip("needs three brokers: DEVSTACK_KAFKA_BROKERS=3 (make chaos runs it so)")
    await _run(stack_config, stack_env, crashes.cluster_leader_kills, 2400, seed=24)
