"""Praise and suggestions arriving as `feedback.submitted` on hospital.complaints.v1, on the real
stack: the complaints service records the same `feedback` rows `POST /v1/feedback` does, once per
external id however often the event is delivered, and dead-letters an invalid one with its reason.

Everything goes out under one Kafka key, so the partition keeps the order: once the last event's
effect is seen, every earlier one has been consumed (no waiting for "nothing happened").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from hospital_shared import topics
from tests.factories import envelope, to_bytes
from tests.integration.services import RunningService, running
from tests.integration.test_enquiries_service import unique
from tests.kafka_tools import eventually, json_values, publish, read_all


@pytest.fixture(scope="module")
def complaints(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "complaints", {}) as service:
        yield service


def feedback(external_id: str, kind: str, **over: Any) -> dict[str, Any]:
    data = {
        "external_id": external_id,
        "kind": kind,
        "channel": "online",
        "department": {"code": "CARD", "name": "心内科"},
        "text": "夜班护士耐心细致" if kind == "praise" else "建议增加候诊区座椅",
        "category": "nursing_care" if kind == "praise" else "facilities",
        "submitted_at": "2026-03-02T03:20:00+00:00",
        **over,
    }
    return envelope("feedback.submitted", data, subject=external_id)


async def rows(dsn: str, external_ids: list[str]) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "complaints"})
    try:
        found = await conn.fetch(
            "SELECT * FROM feedback WHERE external_id = ANY($1) ORDER BY id", external_ids
        )
        return [dict(r) for r in found]
    finally:
        await conn.close()


async def test_praise_and_a_suggestion_from_kafka_are_recorded_once_and_a_bad_one_dead_lettered(
    complaints, stack_env
) -> None:  # type: ignore[no-untyped-def]
    bootstrap, dsn, n = stack_env["KAFKA_BOOTSTRAP_SERVERS"], stack_env["DATABASE_URL"], unique()
    praise, suggestion = feedback(f"F-P-{n}", "praise"), feedback(f"F-S-{n}", "suggestion")
    bad = feedback(f"F-X-{n}", "complaint")  # not a kind of feedback
    marker = feedback(f"F-M-{n}", "suggestion")
    key = f"K-{n}"
    # The praise delivered twice, then once more under a new event id (a resend by the source).
    resent = {**praise, "id": f"{praise['id']}-again"}
    sent = [praise, praise, suggestion, resent, bad, marker]
    await publish(bootstrap, topics.COMPLAINTS_IN, [(key, to_bytes(e)) for e in sent])

    ids = [praise["data"]["external_id"], suggestion["data"]["external_id"]]
    found = await eventually(
        lambda: _with_marker(dsn, ids, marker["data"]["external_id"]), timeout=60
    )
    by_kind = {r["kind"]: r for r in found}
    assert len(found) == 2 and set(by_kind) == {"praise", "suggestion"}
    assert by_kind["praise"]["channel"] == "online"
    assert by_kind["praise"]["category"] == "nursing_care"
    assert by_kind["praise"]["department_code"] == "CARD"
    assert by_kind["praise"]["finished_at"] is not None  # praise is finished when recorded
    assert by_kind["suggestion"]["feedback_number"].split("-")[0].endswith("J")
    assert by_kind["suggestion"]["answered_at"] is None

    # Praise tells the department (feedback.praise_received), once.
    number = by_kind["praise"]["feedback_number"]
    told = await eventually(lambda: _about(bootstrap, number), timeout=30)
    assert [e["type"] for e in told] == ["feedback.praise_received"]
    assert told[0]["data"]["department_code"] == "CARD"

    dead = await eventually(lambda: _dead_letters(bootstrap, bad["id"]), timeout=30)
    assert dead[0]["dlq-error-kind"] != "handler_error"
    assert "kind" in dead[0]["dlq-reason"]
    # The resend was taken as already recorded, not failed (the bad one came after it).
    assert await _dead_letters(bootstrap, resent["id"]) == []


async def test_praise_of_someone_not_on_the_roster_is_dead_lettered_not_filed_unseen(
    complaints, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """Praise naming a staff id nobody active has was filed with no department, so nobody was
    told: it is dead-lettered with the reason (to be replayed once the roster has them), and
    the praise after it still goes through."""
    bootstrap, dsn, n = stack_env["KAFKA_BOOTSTRAP_SERVERS"], stack_env["DATABASE_URL"], unique()
    unknown = feedback(f"F-U-{n}", "praise", department=None, staff_id=f"S-NOBODY-{n}")
    marker = feedback(f"F-M-{n}", "praise", department=None, staff_id="S-DOC-01")
    await publish(
        bootstrap, topics.COMPLAINTS_IN, [(f"K-{n}", to_bytes(e)) for e in (unknown, marker)]
    )
    told = await eventually(lambda: rows(dsn, [marker["data"]["external_id"]]), timeout=60)
    assert told[0]["department_code"] == "CARD"  # the praised doctor's, from the roster
    assert await rows(dsn, [unknown["data"]["external_id"]]) == []
    dead = await eventually(lambda: _dead_letters(bootstrap, unknown["id"]), timeout=30)
    assert dead[0]["dlq-error-kind"] == "handler_error"
    assert f"S-NOBODY-{n} is not an active member of staff" in dead[0]["dlq-reason"]


async def _with_marker(dsn: str, ids: list[str], marker: str) -> list[dict[str, Any]] | None:
    found = await rows(dsn, [*ids, marker])
    if not any(r["external_id"] == marker for r in found):
        return None
    return [r for r in found if r["external_id"] != marker]


async def _about(bootstrap: str, subject: str) -> list[dict[str, Any]]:
    events = json_values(await read_all(bootstrap, topics.COMPLAINT_CASES))
    return [e for e in events if e.get("subject") == subject]


async def _dead_letters(bootstrap: str, event_id: str) -> list[dict[str, str]]:
    found = []
    for r in await read_all(bootstrap, topics.dead_letter_topic(topics.COMPLAINTS_IN)):
        headers = {k: v.decode() for k, v in r.headers}
        if event_id.encode() in (r.value or b"") and headers.get("dlq-service") == "complaints":
            found.append(headers)
    return found
