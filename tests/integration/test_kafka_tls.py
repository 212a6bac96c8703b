"""A service on Kafka's SASL_SSL listener: TLS verified against the stack's CA, then a SASL
login (hospital_shared.kafka_security). The follow-up service is given only that listener's
address (a client bootstrapped there is told the same listener's brokers), consumes a
discharge the simulator's publisher sent there too, and publishes its task through it; with a
wrong password it refuses to start.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from hospital_shared import topics
from hospital_shared.codec import decode
from simulator.cli import kafka_options
from simulator.publish import publish_to_kafka
from simulator.stream import SimEvent
from tests.factories import discharge, to_bytes
from tests.integration.services import RunningService, planned_task, running
from tests.kafka_tools import eventually, json_values, read_all


def secure_env(stack_env: dict[str, str], **over: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": stack_env["DEVSTACK_KAFKA_SECURE_BOOTSTRAP"],
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SSL_CAFILE": stack_env["DEVSTACK_KAFKA_CA_FILE"],
        "KAFKA_SASL_MECHANISM": "PLAIN",
        "KAFKA_SASL_USERNAME": stack_env["DEVSTACK_KAFKA_SASL_USERNAME"],
        "KAFKA_SASL_PASSWORD": stack_env["DEVSTACK_KAFKA_SASL_PASSWORD"],
        **over,
    }


@pytest.fixture(scope="module")
def followup_tls(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "followup", secure_env(stack_env)) as service:
        yield service


async def test_a_service_consumes_and_publishes_over_tls_with_a_sasl_login(
    followup_tls, stack_env, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    n = uuid.uuid4().int % 10**6
    event = discharge(n)
    # Published the way `simulate` does it, with the variables the services read.
    for name, value in secure_env(stack_env).items():
        monkeypatch.setenv(name, value)
    simulated = SimEvent(
        datetime.now(UTC), topics.DISCHARGES, event["subject"], decode(to_bytes(event)), 1
    )
    secure = stack_env["DEVSTACK_KAFKA_SECURE_BOOTSTRAP"]
    assert await publish_to_kafka(secure, [simulated], kafka_options=kafka_options()) == 1
    task_id = f"FU-A{n:06d}"

    task = await eventually(
        lambda: planned_task(followup_tls.url, task_id), timeout=60
    )  # consumed through the SASL_SSL listener
    assert task["why"]["source_event_id"] == event["id"]

    async def published() -> list[dict[str, Any]]:
        records = await read_all(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.FOLLOWUP_TASKS)
        return [
            e
            for e in json_values(records)
            if e["type"] == "followup.task_planned" and e["data"]["task_id"] == task_id
        ]

    (out,) = await eventually(published, timeout=60)  # relayed through it too
    assert out["data"]["source_event_id"] == event["id"]


def test_a_wrong_kafka_password_stops_the_service_at_start_with_the_reason(
    stack_config, stack_env
) -> None:  # type: ignore[no-untyped-def]
    env = secure_env(
        stack_env,
        KAFKA_SASL_PASSWORD="not-the-password",
        FOLLOWUP_HTTP_PORT=str(stack_config.followup_port + 50),
    )
    service = RunningService(stack_config, "followup", env, log_name="followup-bad-login")
    try:
        assert service.start().wait_exit(90) != 0
    finally:
        service.stop()
    assert "Authentication failed" in service.log
