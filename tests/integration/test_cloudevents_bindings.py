"""The CloudEvents bindings on the real stack: `POST /v1/events` takes a batch, one structured
event and binary mode (`ce-*` headers); the follow-up service's consumer reads a structured
record and a binary-mode one (`ce_*` headers) from Kafka alike; and every record the platform
publishes says it is structured mode (`content-type: application/cloudevents+json`) and names
its `dataschema`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from hospital_shared import topics
from hospital_shared.events import dataschema_of
from tests.factories import discharge
from tests.integration.services import RunningService, planned_task, running_all
from tests.kafka_tools import eventually, read_all

STRUCTURED = b"application/cloudevents+json; charset=UTF-8"


@pytest.fixture(scope="module")
def services(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, ["registration", "followup"]) as running:
        yield running


def unique() -> int:
    return uuid.uuid4().int % 10**6


def binary_headers(event: dict[str, Any], prefix: str) -> list[tuple[str, str]]:
    """The event's attributes as `ce-`/`ce_` headers (HTTP percent-encodes, 3.1.3.2)."""
    return [
        (f"{prefix}{name}", str(value))
        for name, value in event.items()
        if name not in ("data", "datacontenttype")
    ]


async def records_with_ids(bootstrap: str, topic: str, ids: set[str]) -> dict[str, Any]:
    found = {}
    for record in await read_all(bootstrap, topic):
        event = json.loads(record.value)
        if event.get("id") in ids:
            found[event["id"]] = (dict(record.headers), event)
    return found if set(found) == ids else {}


async def test_post_events_takes_a_batch_a_structured_event_and_binary_mode(
    services: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    n = unique()
    batch, single, in_headers = discharge(n), discharge(n + 1), discharge(n + 2)
    auth = {"Authorization": f"Bearer {stack_env['TOKEN_INTEGRATION']}"}
    async with httpx.AsyncClient(base_url=services["registration"].url, timeout=30) as http:
        answers = [
            await http.post(
                "/v1/events",
                content=json.dumps([batch]),
                headers={**auth, "Content-Type": "application/cloudevents-batch+json"},
            ),
            await http.post(
                "/v1/events",
                content=json.dumps(single),
                headers={**auth, "Content-Type": "application/cloudevents+json; charset=utf-8"},
            ),
            await http.post(
                "/v1/events",
                content=json.dumps(in_headers["data"]),
                headers=[
                    *auth.items(),
                    ("Content-Type", "application/json"),
                    *binary_headers(in_headers, "ce-"),
                ],
            ),
        ]
        bad_binary = await http.post(
            "/v1/events",
            content=json.dumps(in_headers["data"]),
            headers=[
                *auth.items(),
                ("Content-Type", "application/json"),
                *binary_headers({**in_headers, "time": "soon"}, "ce-"),
            ],
        )
    assert [a.status_code for a in answers] == [202, 202, 202], [a.text for a in answers]
    assert bad_binary.status_code == 422
    assert ["header", "ce-time"] in [e["location"] for e in bad_binary.json()["errors"]]
    ids = {batch["id"], single["id"], in_headers["id"]}
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    found = await eventually(lambda: records_with_ids(bootstrap, topics.DISCHARGES, ids))
    for headers, event in found.values():
        assert headers["content-type"] == STRUCTURED
        assert event["dataschema"] == dataschema_of("patient.discharged")
    assert found[in_headers["id"]][1]["data"]["admission_id"] == in_headers["data"]["admission_id"]


async def test_a_consumer_reads_structured_and_binary_records_and_publishes_structured(
    services: dict[str, RunningService], stack_env: dict[str, str]
) -> None:
    n = unique()
    structured, binary = discharge(n), discharge(n + 1)
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.DISCHARGES,
            value=json.dumps(structured).encode(),
            key=structured["subject"].encode(),
            headers=[("content-type", STRUCTURED)],
        )
        await producer.send_and_wait(
            topics.DISCHARGES,
            value=json.dumps(binary["data"]).encode(),
            key=binary["subject"].encode(),
            headers=[
                ("content-type", b"application/json"),
                *((k, v.encode()) for k, v in binary_headers(binary, "ce_")),
            ],
        )
    finally:
        await producer.stop()
    followup = services["followup"].url
    for m in (n, n + 1):
        task = await eventually(lambda m=m: planned_task(followup, f"FU-A{m:06d}"))
        assert task["patient"]["patient_id"] == f"P{m:06d}"

    async def planned_records() -> list[Any]:
        wanted = {f"FU-A{n:06d}", f"FU-A{n + 1:06d}"}
        return [
            r
            for r in await read_all(bootstrap, topics.FOLLOWUP_TASKS)
            if json.loads(r.value)["data"].get("task_id") in wanted
        ]

    published = await eventually(planned_records)
    for record in published:
        assert dict(record.headers)["content-type"] == STRUCTURED
        event = json.loads(record.value)
        assert event["dataschema"] == dataschema_of(event["type"])
