"""Fault injection while the simulator streams: kill -9 each service, restart PostgreSQL and
Kafka, stop Kannel, kill one of two instances mid-rebalance; the run must end with exactly
the expected effects: no loss, no duplicates.

The short form runs in `make test` (one consumer killed mid-rebalance: the Kafka restart and
that kill added 33 s and 28 s to its 3 min on the loaded 2-core machine); the full form
(`make chaos`, CHAOS_FULL=1) streams 15 times as many events and does every consumer.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.chaos.effects import table
from tests.chaos.scenario import FULL, SHORT, run_chaos

pytestmark = [pytest.mark.stack, pytest.mark.chaos]


async def test_short_chaos_run_ends_with_exactly_the_expected_effects(
    stack_config: Any, stack_env: dict[str, str]
) -> None:
    result = await run_chaos(stack_config, stack_env, SHORT, seed=7)
    print(table(result.faults, result.checks))
    assert result.ok, table(result.faults, result.checks)


@pytest.mark.skipif(not os.environ.get("CHAOS_FULL"), reason="the full chaos run: CHAOS_FULL=1")
@pytest.mark.timeout(1800)
async def test_full_chaos_run_ends_with_exactly_the_expected_effects(
    stack_config: Any, stack_env: dict[str, str]
) -> None:
    result = await run_chaos(stack_config, stack_env, FULL, seed=11)
    print(table(result.faults, result.checks))
    assert result.ok, table(result.faults, result.checks)
