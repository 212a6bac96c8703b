"""The stack's dead-letter topics keep their records 35 days, longer than the 30 days the
EventsDeadLettered runbook gives for fixing the sender and replaying them; Kafka's default
(7 days) had deleted them long before."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from hospital_shared.topics import all_topics


async def test_every_dead_letter_topic_keeps_its_records_35_days(
    stack_env: dict[str, str],
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"])
    await admin.start()
    try:
        dead = [t.name for t in all_topics() if t.name.endswith(".dlq")]
        kept = {}
        for topic in [*dead, "hospital.registrations.v1"]:
            (answer,) = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic, {"retention.ms": None})]
            )
            (resource,) = answer.resources
            kept[topic] = {c[0]: int(c[1]) for c in resource[4]}["retention.ms"]
    finally:
        await admin.close()
    days = {topic: ms / 86_400_000 for topic, ms in kept.items()}
    assert len(dead) >= 12 and all(days[t] == 35 for t in dead), days  # opt-outs: the 12th
    assert days["hospital.registrations.v1"] == 7  # the others keep Kafka's default
