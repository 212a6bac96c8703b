"""Registration queue reports on the real stack: REST -> registration -> hospital.queues.v1
(or a hospital system straight onto that topic)
-> metrics (episode rule, store, gauges) -> metrics.queue-episodes.v1 -> notifications ->
the department's supervisor. A queue of 9 reported 50 times in a minute notifies once; the
episode survives a metrics restart without a second notice.

"Once" is proven with markers, never with a sleep: the same queue (same key, so the same
partition and order) is reported at 3, which closes the episode, then at 9 again, which opens
a second one; once the second notice is there, everything reported before it has been
handled, and the notices counted then are final.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from hospital_shared import topics
from hospital_shared.codec import encode
from hospital_shared.events import QueueReported, make_event
from hospital_shared.service_events.followup import StaffMemberSaved, StaffRole
from tests.integration.services import RunningService
from tests.kafka_tools import eventually, publish
from tests.metrics.prom_text import parse_metrics, sample

TEMPLATE = "staff_queue_over_limit"


@pytest.fixture(scope="module")
def stack(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    extra = {
        "metrics": {"METRICS_STORE_REFRESH_INTERVAL_S": "0.3"},
        "notifications": {"NOTIFICATIONS_DISPATCH_INTERVAL_S": "0.2"},
        "registration": {},
    }
    services = {name: RunningService(stack_config, name, extra_env=env) for name, env in extra.items()}  # fmt: skip
    for service in services.values():
        service.start()
    for service in services.values():
        service.wait_ready()
    yield services
    for service in services.values():
        service.stop()


def auth(stack_env: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack_env[f'TOKEN_{role}']}"}


async def report(
    stack: dict[str, RunningService], stack_env: dict[str, str], queue: dict[str, Any], length: int, at: datetime
) -> None:  # fmt: skip
    body = {**queue, "length": length, "reported_at": at.isoformat()}
    async with httpx.AsyncClient(base_url=stack["registration"].url, timeout=10) as client:
        resp = await client.post(
            "/v1/queue-reports", json=body, headers=auth(stack_env, "INTEGRATION")
        )
    assert resp.status_code == 202, resp.text


async def report_on_the_topic(
    stack_env: dict[str, str], queue: dict[str, Any], length: int, at: datetime
) -> None:
    """A queue report published by a hospital system straight onto hospital.queues.v1."""
    reported = QueueReported.model_validate({**queue, "length": length, "reported_at": at})
    event = make_event(
        "queue.reported", reported, source="urn:his:queue", subject=reported.queue_id, time=at
    )
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    await publish(bootstrap, topics.QUEUE_REPORTS, [(reported.queue_id, encode(event))])


async def notices(
    stack: dict[str, RunningService], stack_env: dict[str, str], staff_id: str
) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=stack["notifications"].url, timeout=10) as client:
        resp = await client.get(
            "/v1/messages", params={"staff_id": staff_id}, headers=auth(stack_env, "ADMIN")
        )
    resp.raise_for_status()
    return [
        m for m in resp.json()["items"] if m["template"] == TEMPLATE and m["channel"] == "inbox"
    ]


async def supervisor_on_roster(
    stack: dict[str, RunningService], stack_env: dict[str, str], dept: str, staff_id: str
) -> None:
    member = StaffMemberSaved(
        staff_id=staff_id, name="排队主管", department_code=dept, role=StaffRole.SUPERVISOR,
        capacity=10, phone="13800138009", email=f"{staff_id.lower()}@hospital.example",
    )  # fmt: skip
    event = make_event(
        "staff.member_saved", member, source="urn:test", subject=staff_id, time=datetime.now(UTC)
    )
    await publish(stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.STAFF_ROSTER, [(staff_id, encode(event))])  # fmt: skip

    async def known() -> bool:
        async with httpx.AsyncClient(base_url=stack["notifications"].url, timeout=10) as client:
            resp = await client.get(
                f"/v1/staff/{staff_id}/channels", headers=auth(stack_env, "ADMIN")
            )
        return bool(resp.json()["email_on_file"])

    await eventually(known, timeout=60)


async def episodes(dsn: str, queue_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(
            "SELECT * FROM metrics.queue_episodes WHERE queue_id = $1 ORDER BY opened_at",
            queue_id,
        )
    finally:
        await conn.close()


def gauges(url: str, queue_id: str, dept: str) -> tuple[float | None, ...]:
    scraped = parse_metrics(httpx.get(f"{url}/metrics", timeout=5).text)
    labels = {"department": dept, "queue": queue_id}
    return (
        sample(scraped, "hospital_registration_queue_length", labels),
        sample(scraped, "hospital_registration_queue_over_limit", labels),
        sample(scraped, "hospital_registration_queue_episodes_total", labels),
    )


async def test_a_queue_of_nine_reported_fifty_times_in_a_minute_notifies_once(
    stack, stack_env
) -> None:  # type: ignore[no-untyped-def]
    n = uuid.uuid4().hex[:6]
    dept, sup = f"Q{n}", f"S-QSUP-{n}"
    queue = {"queue_id": f"W-{n}", "department_code": dept, "queue_name": f"挂号{n}号窗口"}
    await supervisor_on_roster(stack, stack_env, dept, sup)
    async with httpx.AsyncClient(base_url=stack["registration"].url, timeout=10) as client:
        bad = {**queue, "length": -1, "reported_at": datetime.now(UTC).isoformat()}
        refused = await client.post("/v1/queue-reports", json=bad, headers=auth(stack_env, "INTEGRATION"))  # fmt: skip
    assert refused.status_code == 422
    assert [e["location"] for e in refused.json()["errors"]] == [["body", "length"]]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    for i in range(50):  # 50 reports of 9 within one minute
        await report(stack, stack_env, queue, 9, start + timedelta(seconds=i))
    # Marker: the queue falls to 3 (closes the episode), then 9 again (a second episode).
    await report(stack, stack_env, queue, 3, start + timedelta(seconds=70))
    await report(stack, stack_env, queue, 9, start + timedelta(seconds=80))

    async def two_notices() -> list[dict[str, Any]] | None:
        found = await notices(stack, stack_env, sup)
        return found if len(found) >= 2 else None

    found = await eventually(two_notices, timeout=90)
    assert len(found) == 2  # one for the 50 reports, one for the marker's episode
    assert all("排队9人" in m["body"] and "超过8人" in m["body"] for m in found)
    dsn = stack_env["DATABASE_URL"]
    first, second = await episodes(dsn, queue["queue_id"])
    assert (first["opening_length"], first["max_length"], first["closing_length"]) == (9, 9, 3)
    assert first["duration_s"] == 70.0
    assert second["closed_at"] is None
    url = stack["metrics"].url
    await eventually(lambda: gauges(url, queue["queue_id"], dept) == (9.0, 1.0, 2.0), timeout=30)

    # A restart of the metrics service neither forgets the open episode nor opens it again:
    # 12 is the same episode (no notice), 4 closes it with its longest length, 10 opens a third.
    metrics = stack["metrics"]
    metrics.kill9()
    metrics.start()
    await asyncio.to_thread(metrics.wait_ready)
    await report(stack, stack_env, queue, 12, start + timedelta(seconds=90))
    await report(stack, stack_env, queue, 4, start + timedelta(seconds=100))
    await report(stack, stack_env, queue, 10, start + timedelta(seconds=110))

    async def three_notices() -> list[dict[str, Any]] | None:
        found = await notices(stack, stack_env, sup)
        return found if len(found) >= 3 else None

    assert len(await eventually(three_notices, timeout=90)) == 3
    _, second, third = await episodes(dsn, queue["queue_id"])
    assert (second["max_length"], second["closing_length"], second["duration_s"]) == (12, 4, 20.0)
    assert third["closed_at"] is None and third["opening_length"] == 10


async def rota(
    stack: dict[str, RunningService], stack_env: dict[str, str], method: str, path: str,
    role: str = "ADMIN", **kwargs: Any,
) -> httpx.Response:  # fmt: skip
    async with httpx.AsyncClient(base_url=stack["notifications"].url, timeout=10) as client:
        return await client.request(
            method, f"/v1/duty-rota{path}", headers=auth(stack_env, role), **kwargs
        )


async def test_a_queue_over_its_limit_is_reported_to_whoever_the_duty_rota_has_on_duty(
    stack, stack_env
) -> None:  # type: ignore[no-untyped-def]
    """Operations put a colleague on duty for the window: the notice goes to them, not to the
    department's supervisor; once the shift is removed, the next episode's notice falls back
    to the supervisor (which, on the same queue and partition, also proves the first episode
    sent no second notice)."""
    n = uuid.uuid4().hex[:6]
    dept, sup, duty = f"Q{n}", f"S-QSUP-{n}", f"S-QDUTY-{n}"
    queue = {"queue_id": f"W-{n}", "department_code": dept, "queue_name": f"挂号{n}号窗口"}
    await supervisor_on_roster(stack, stack_env, dept, sup)
    await supervisor_on_roster(stack, stack_env, f"ER{n}", duty)
    now = datetime.now(UTC).replace(microsecond=0)
    shift = {"department_code": dept, "queue_id": queue["queue_id"], "staff_id": duty,
             "starts_at": (now - timedelta(hours=1)).isoformat(),
             "ends_at": (now + timedelta(hours=2)).isoformat()}  # fmt: skip
    assert (await rota(stack, stack_env, "POST", "", "SUPERVISOR", json=shift)).status_code == 403
    for field, bad in (("ends_at", shift["starts_at"]), ("staff_id", f"S-NOBODY-{n}")):
        refused = await rota(stack, stack_env, "POST", "", json=shift | {field: bad})
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["location"] == ["body", field]
    added = await rota(stack, stack_env, "POST", "", json=shift)
    assert added.status_code == 201, added.text
    shift_id = added.json()["shift_id"]
    asked = await rota(stack, stack_env, "GET", "/on-duty", "SUPERVISOR",
                       params={"department": dept, "queue_id": queue["queue_id"]})  # fmt: skip
    assert (asked.json()["staff_id"], asked.json()["source"]) == (duty, "rota")

    start = now - timedelta(minutes=5)
    await report(stack, stack_env, queue, 9, start)
    found = await eventually(lambda: notices(stack, stack_env, duty), timeout=90)
    assert len(found) == 1 and "排队9人" in found[0]["body"]

    removed = await rota(stack, stack_env, "DELETE", f"/{shift_id}")
    assert removed.status_code == 200, removed.text
    assert (await rota(stack, stack_env, "DELETE", f"/{shift_id}")).status_code == 404
    asked = await rota(stack, stack_env, "GET", "/on-duty", params={"department": dept})
    assert (asked.json()["staff_id"], asked.json()["source"]) == (sup, "supervisor")
    # The 3 that closes the episode comes straight onto the input topic, as a hospital system
    # on Kafka sends it (not through registration's REST): the next 9 notifies only if it did.
    await report_on_the_topic(stack_env, queue, 3, start + timedelta(seconds=10))
    await report(stack, stack_env, queue, 9, start + timedelta(seconds=20))
    assert len(await eventually(lambda: notices(stack, stack_env, sup), timeout=90)) == 1
    assert len(await notices(stack, stack_env, duty)) == 1
