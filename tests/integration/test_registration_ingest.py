"""The registration service as hospital systems use it: REST and HL7 v2 over a real MLLP
socket in, canonical CloudEvents out on the real Kafka (keyed by patient, decodable)."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import hl7
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hospital_shared import topics
from hospital_shared.codec import decode
from hospital_shared.field_crypto import open_
from tests.factories import discharge, envelope, registration
from tests.integration.capture_servers import free_port
from tests.integration.services import RunningService, refused_start_log
from tests.kafka_tools import eventually, read_all
from tests.registration.messages import adt, framed, siu

END = b"\x1c\x0d"


@pytest.fixture(scope="module")
def service(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    svc = RunningService(stack_config, "registration").start()
    svc.wait_ready()
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
async def http(service: RunningService, stack_env) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {stack_env['TOKEN_INTEGRATION']}"}
    async with httpx.AsyncClient(base_url=service.url, headers=headers, timeout=30) as client:
        yield client


def uid() -> int:
    return uuid.uuid4().int % 10**9


async def mllp(port: int, *messages: bytes) -> list[hl7.Message]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    acks = []
    try:
        for message in messages:
            writer.write(framed(message))
            await writer.drain()
            raw = await asyncio.wait_for(reader.readuntil(END), 30)
            charset = "gb18030" if b"GB 18030" in raw else "utf-8"
            acks.append(hl7.parse(raw[1:-2].decode(charset)))
    finally:
        writer.close()
    return acks


def ack_code(ack: hl7.Message) -> str:
    return str(ack["MSA.F1"])


async def published(bootstrap: str, topic: str, **match: str) -> list[tuple[str, dict[str, Any]]]:
    """(key, event) of every event on `topic` whose data has all of `match`, in offset order."""
    found = []
    for record in await read_all(bootstrap, topic):
        try:
            event = json.loads(record.value)
        except ValueError:
            continue
        data = event.get("data") or {}
        if all(data.get(k) == v for k, v in match.items()):
            found.append(((record.key or b"").decode(), event))
    return found


async def wait_published(
    bootstrap: str, topic: str, count: int, **match: str
) -> list[tuple[str, dict[str, Any]]]:
    async def check() -> list[tuple[str, dict[str, Any]]] | None:
        found = await published(bootstrap, topic, **match)
        return found if len(found) >= count else None

    result: list[tuple[str, dict[str, Any]]] = await eventually(check, timeout=30)
    return result


# --- REST -----------------------------------------------------------------------------


async def test_registration_post_is_202_and_lands_on_kafka_keyed_and_valid(
    http: httpx.AsyncClient, stack_env: dict[str, str]
) -> None:
    n = uid()
    data = registration(n)["data"]
    data["patient"]["phone"] = "138 0013 8000"
    resp = await http.post("/v1/registrations", json=data)
    assert resp.status_code == 202, resp.text
    [event_id] = resp.json()["event_ids"]
    [(key, event)] = await wait_published(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.REGISTRATIONS, 1,
        registration_id=data["registration_id"],
    )  # fmt: skip
    assert key == f"P{n:06d}"
    assert event["id"] == event_id
    decoded = decode(json.dumps(event).encode(), expected_topic=topics.REGISTRATIONS)
    assert decoded.data.patient.phone == "+8613800138000"
    assert event["phonestatus"] == "valid"


async def test_discharge_and_complaint_posts_are_published(
    http: httpx.AsyncClient, stack_env: dict[str, str]
) -> None:
    n = uid()
    resp = await http.post("/v1/discharges", json=discharge(n)["data"])
    assert resp.status_code == 202, resp.text
    complaint = {
        "external_id": f"C{n}",
        "channel": "phone",
        "patient": {"patient_id": f"P{n:06d}", "name": "赵六", "phone": "13700137000"},
        "description": "挂号排队太久",
        "submitted_at": "2026-11-23T09:30:00+08:00",
    }
    assert (await http.post("/v1/complaints", json=complaint)).status_code == 202
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    [(key, _)] = await wait_published(bootstrap, topics.DISCHARGES, 1, admission_id=f"A{n:06d}")
    assert key == f"P{n:06d}"
    [(key, event)] = await wait_published(bootstrap, topics.COMPLAINTS_IN, 1, external_id=f"C{n}")
    assert key == f"P{n:06d}"
    decode(json.dumps(event).encode(), expected_topic=topics.COMPLAINTS_IN)


async def test_praise_and_suggestions_are_taken_by_rest_and_by_the_batch_like_complaints(
    http: httpx.AsyncClient, stack_env: dict[str, str]
) -> None:
    n = uid()
    praise = {
        "external_id": f"F{n}",
        "kind": "praise",
        "channel": "online",
        "patient": {"patient_id": f"P{n:06d}", "name": "赵六", "phone": "13700137000"},
        "staff_id": "N-0042",
        "text": "护士很耐心",
        "submitted_at": "2026-11-23T09:30:00+08:00",
    }
    assert (await http.post("/v1/feedback", json=praise)).status_code == 202
    bad = await http.post("/v1/feedback", json={**praise, "kind": "complaint"})
    assert bad.status_code == 422 and "kind" in bad.text
    suggestion = {**praise, "external_id": f"G{n}", "kind": "suggestion", "patient": None}
    batch = [envelope("feedback.submitted", suggestion, subject=f"G{n}")]
    assert (await http.post("/v1/events", json=batch)).status_code == 202
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    [(key, event)] = await wait_published(bootstrap, topics.COMPLAINTS_IN, 1, external_id=f"F{n}")
    assert key == f"P{n:06d}" and event["type"] == "feedback.submitted"
    assert event["data"]["patient"]["phone"] == "+8613700137000"
    decode(json.dumps(event).encode(), expected_topic=topics.COMPLAINTS_IN)
    [(key, event)] = await wait_published(bootstrap, topics.COMPLAINTS_IN, 1, external_id=f"G{n}")
    assert key == f"G{n}" and event["data"]["kind"] == "suggestion"


async def test_ingest_needs_an_integration_token(
    service: RunningService, stack_env: dict[str, str]
) -> None:
    body = registration(uid())["data"]
    async with httpx.AsyncClient(base_url=service.url) as anon:
        assert (await anon.post("/v1/registrations", json=body)).status_code == 401
        wrong = {"Authorization": "Bearer not-a-token"}
        assert (await anon.post("/v1/events", json=[], headers=wrong)).status_code == 401
        agent = {"Authorization": f"Bearer {stack_env['TOKEN_AGENT']}"}
        assert (await anon.post("/v1/discharges", json=body, headers=agent)).status_code == 403
        assert (await anon.get("/openapi.json")).status_code == 200


async def test_bad_request_is_422_naming_each_field(http: httpx.AsyncClient) -> None:
    data = registration(uid())["data"]
    del data["patient"]["name"]
    data["visit_type"] = "sometimes"
    resp = await http.post("/v1/registrations", json=data)
    assert resp.status_code == 422
    locs = {tuple(e["location"]) for e in resp.json()["errors"]}
    assert ("body", "patient", "name") in locs
    assert ("body", "visit_type") in locs


async def test_a_visit_without_a_phone_is_422_naming_the_phone(http: httpx.AsyncClient) -> None:
    # Patient.phone is required by the shared contract: the visit is refused, and the answer
    # says which field (the HL7 door answers AE with ERR-2 = PID^1^13 the same way).
    data = registration(uid())["data"]
    del data["patient"]["phone"]
    resp = await http.post("/v1/registrations", json=data)
    assert resp.status_code == 422
    [error] = resp.json()["errors"]
    assert (error["location"], error["type"]) == (["body", "patient", "phone"], "missing")


async def test_batch_ten_percent_invalid_is_422_and_publishes_nothing(
    http: httpx.AsyncClient, stack_env: dict[str, str]
) -> None:
    base = uid()
    events = [registration(base + i) for i in range(50)]
    for i in range(0, 50, 10):
        events[i]["data"]["registered_at"] = "yesterday"
    resp = await http.post("/v1/events", json=events)
    assert resp.status_code == 422
    errors = resp.json()["errors"]
    assert [e["location"][:2] for e in errors] == [["body", i] for i in range(0, 50, 10)]
    assert all(e["location"][2:] == ["data", "registered_at"] for e in errors)
    # A later good batch goes through; by the time it is on Kafka, anything of the bad one
    # would be there before it (one outbox, published in order).
    marker = registration(base + 50)
    assert (await http.post("/v1/events", json=[marker])).status_code == 202
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    await wait_published(bootstrap, topics.REGISTRATIONS, 1, registration_id=f"R{base + 50:06d}")
    ids = {f"R{base + i:06d}" for i in range(50)}
    on_kafka = await published(bootstrap, topics.REGISTRATIONS)
    assert not [e for _, e in on_kafka if e["data"].get("registration_id") in ids]
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM registration.visits WHERE visit_id = ANY($1)", list(ids)
        )
    finally:
        await conn.close()
    assert stored == 0


async def test_batch_with_cancellation_before_its_registration_and_repeats(
    http: httpx.AsyncClient, stack_env: dict[str, str]
) -> None:
    n = uid()
    created = registration(n)
    cancel = envelope(
        "registration.cancelled",
        {"registration_id": f"R{n:06d}", "cancelled_at": "2026-11-23T10:00:00+08:00"},
        subject=f"P{n:06d}",
    )
    first = await http.post("/v1/events", json=[cancel])
    assert first.status_code == 202 and first.json()["held"] == 1
    second = await http.post("/v1/events", json=[created, cancel])  # the cancel again: a repeat
    assert second.status_code == 202
    assert second.json()["duplicates"] == [cancel["id"]]
    found = await wait_published(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.REGISTRATIONS, 2, registration_id=f"R{n:06d}"
    )
    assert [e["type"] for _, e in found] == ["registration.created", "registration.cancelled"]
    assert {k for k, _ in found} == {f"P{n:06d}"}
    assert found[1][1]["id"] == cancel["id"]


# --- HL7 over MLLP ----------------------------------------------------------------------


async def test_hl7_a04_gb18030_is_aa_and_published_with_the_chinese_name(
    service: RunningService, stack_config: Any, stack_env: dict[str, str]
) -> None:
    n = uid()
    message = adt("A04", f"GB{n}", patient_id=f"HP{n}", visit_id=f"HV{n}", charset="gb18030",
                  family="欧阳", given="娜娜")  # fmt: skip
    [ack] = await mllp(stack_config.mllp_port, message)
    assert ack_code(ack) == "AA"
    assert str(ack["MSA.F2"]) == f"GB{n}"
    [(key, event)] = await wait_published(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.REGISTRATIONS, 1, registration_id=f"HV{n}"
    )
    assert key == f"HP{n}"
    assert event["data"]["patient"]["name"] == "欧阳娜娜"
    assert event["data"]["department"]["name"] == "心内科"
    decode(json.dumps(event).encode(), expected_topic=topics.REGISTRATIONS)


async def test_duplicate_control_id_is_acknowledged_but_published_once(
    stack_config: Any, service: RunningService, stack_env: dict[str, str]
) -> None:
    n = uid()
    message = adt("A04", f"DUP{n}", patient_id=f"HP{n}", visit_id=f"HV{n}")
    acks = await mllp(stack_config.mllp_port, message, message)
    acks += await mllp(stack_config.mllp_port, message)  # and on a new connection
    assert [ack_code(a) for a in acks] == ["AA", "AA", "AA"]
    marker = adt("A04", f"DUPM{n}", patient_id=f"HP{n}", visit_id=f"HVM{n}")
    assert ack_code((await mllp(stack_config.mllp_port, marker))[0]) == "AA"
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    await wait_published(bootstrap, topics.REGISTRATIONS, 1, registration_id=f"HVM{n}")
    assert len(await published(bootstrap, topics.REGISTRATIONS, registration_id=f"HV{n}")) == 1


async def test_admission_then_discharge_then_cancelled_discharge(
    stack_config: Any, service: RunningService, stack_env: dict[str, str]
) -> None:
    n = uid()
    ids = {"patient_id": f"HP{n}", "visit_id": f"HA{n}", "patient_class": "I"}
    acks = await mllp(
        stack_config.mllp_port,
        adt("A13", f"A13-{n}", **ids),  # the cancellation first: held until its discharge
        adt("A01", f"A01-{n}", **ids, pv1_extra={44: "20261118080000"}),
        adt("A03", f"A03-{n}", **ids, pv1_extra={45: "20261123100000", 36: "01"},
            segments=("DG1|1||I21.9^急性心肌梗死^I10",)),
    )  # fmt: skip
    assert [ack_code(a) for a in acks] == ["AA", "AA", "AA"]
    found = await wait_published(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.DISCHARGES, 2, admission_id=f"HA{n}"
    )
    assert [e["type"] for _, e in found] == ["patient.discharged", "discharge.cancelled"]
    discharged = decode(json.dumps(found[0][1]).encode(), expected_topic=topics.DISCHARGES)
    assert discharged.data.admitted_at.isoformat() == "2026-11-18T08:00:00+08:00"
    assert discharged.data.diagnosis == "急性心肌梗死"
    assert {k for k, _ in found} == {f"HP{n}"}


async def discharge_events(bootstrap: str, admission_id: str) -> list[tuple[str, str]]:
    """(type, correlation id: the HL7 MSH-10) of the admission's discharge events, in order."""
    found = await published(bootstrap, topics.DISCHARGES, admission_id=admission_id)
    return [(e["type"], e["correlationid"]) for _, e in found]


def discharged_then_cancelled(n: int, *suffixes: str) -> list[tuple[str, str]]:
    """Each discharge (A03-n<suffix>) published, then its cancellation (A13-n<suffix>)."""
    return [
        event
        for s in suffixes
        for event in (("patient.discharged", f"A03-{n}{s}"), ("discharge.cancelled", f"A13-{n}{s}"))
    ]


async def test_a_second_discharges_cancellation_overtaking_its_a03_cancels_it(
    stack_config: Any, service: RunningService, stack_env: dict[str, str]
) -> None:
    """Discharged, cancelled, discharged again and cancelled again, the second A13 (EVN-2 two
    days after the first) ahead of its A03, and the first A13 resent (new MSH-10, its own
    EVN-2) on the way: the second A13 was taken as a repeat and the second discharge was
    published alone, which plans a follow-up call for a patient on the ward."""
    n = uid()
    ids = {"patient_id": f"HP{n}", "visit_id": f"HA{n}", "patient_class": "I"}
    first_a13 = {"recorded_at": "20261123110000+0800", **ids}
    acks = await mllp(
        stack_config.mllp_port,
        adt("A01", f"A01-{n}", **ids, pv1_extra={44: "20261118080000"}),
        adt("A03", f"A03-{n}", **ids, pv1_extra={45: "20261123100000", 36: "01"}),
        adt("A13", f"A13-{n}", **first_a13),
        adt("A13", f"A13-{n}-resent", **first_a13),
        adt("A13", f"A13-{n}-second", **ids, recorded_at="20261125110000+0800"),
        adt("A03", f"A03-{n}-second", **ids, pv1_extra={45: "20261125100000", 36: "01"},
            recorded_at="20261125100000+0800"),
        adt("A13", f"A13-{n}-resent-again", **first_a13),
        # the patient's next admission, discharged: on the same key, so after all of the above
        adt("A01", f"A01-{n}-next", **{**ids, "visit_id": f"HB{n}"}, pv1_extra={44: "20261201080000"}),
        adt("A03", f"A03-{n}-next", **{**ids, "visit_id": f"HB{n}"}, pv1_extra={45: "20261203100000"}),
    )  # fmt: skip
    assert [ack_code(a) for a in acks] == ["AA"] * 9
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    await wait_published(bootstrap, topics.DISCHARGES, 1, admission_id=f"HB{n}")
    found = await discharge_events(bootstrap, f"HA{n}")
    assert found == discharged_then_cancelled(n, "", "-second")


async def as_the_upgrade_left_0_14s(db: asyncpg.Connection, admission_id: str, n: int) -> None:
    """Turn the admission's rows into what 0.14.0 left after A01, A03, A13 and the A13
    resent under a new MSH-10, once upgraded: `discharge_cancelled` (migration 360's name for
    0.14.0's plain `admitted`) with no cancellation time in its record (0.14.0 kept none; a
    record migration 370 left is its JSON, unsealed), and the resend held for it."""
    where = "WHERE kind = 'admission' AND visit_id = $1"
    sealed = await db.fetchval(f"SELECT record FROM registration.visits {where}", admission_id)
    record = json.loads(open_(sealed) or "{}")
    assert record.pop("discharge_cancelled_at")  # kept since 0.14.0
    await db.execute(
        f"UPDATE registration.visits SET record = $2 {where}", admission_id, json.dumps(record)
    )
    await db.execute(
        "INSERT INTO registration.held_intakes (kind, visit_id, event_id, type, data,"
        " occurred_at, source, correlation_id, received_at) VALUES ('admission', $1, $2,"
        " 'discharge.cancelled', $3::jsonb, '2026-11-23T03:00:00Z', 'urn:hospital:registration',"
        " $4, now() - interval '1 day')",
        admission_id, f"held-{n}", json.dumps({"admission_id": admission_id}), f"A13-{n}-resent",
    )  # fmt: skip


async def test_an_a13_resend_held_before_the_upgrade_does_not_cancel_the_next_discharge(
    stack_config: Any, service: RunningService, stack_env: dict[str, str], raw_db: Any
) -> None:
    """Discharged and cancelled under 0.14.0, which also held the same A13 resent (new MSH-10)
    as if it came before a discharge. After the upgrade the patient's next A03 released it:
    `discharge.cancelled` followed the real discharge (follow-up withdrew the call for a
    patient gone home). Now that A03 goes out alone and the resend is dropped, logged; the
    next A13, and one for a later discharge that overtakes its A03, still cancel theirs."""
    n = uid()
    ids = {"patient_id": f"HP{n}", "visit_id": f"HA{n}", "patient_class": "I"}
    port = stack_config.mllp_port
    acks = await mllp(
        port,
        adt("A01", f"A01-{n}", **ids, pv1_extra={44: "20261118080000"}),
        adt("A03", f"A03-{n}", **ids, pv1_extra={45: "20261123100000", 36: "01"}),
        adt("A13", f"A13-{n}", **ids, recorded_at="20261123110000+0800"),
    )
    await as_the_upgrade_left_0_14s(raw_db, f"HA{n}", n)
    acks += await mllp(
        port,
        adt("A03", f"A03-{n}-second", **ids, pv1_extra={45: "20261125100000", 36: "01"},
            recorded_at="20261125100000+0800"),
        adt("A13", f"A13-{n}-second", **ids, recorded_at="20261125110000+0800"),
        adt("A13", f"A13-{n}-third", **ids, recorded_at="20261127110000+0800"),  # held
        adt("A03", f"A03-{n}-third", **ids, pv1_extra={45: "20261127100000", 36: "01"},
            recorded_at="20261127100000+0800"),
    )  # fmt: skip
    assert [ack_code(a) for a in acks] == ["AA"] * 7
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    await wait_published(bootstrap, topics.DISCHARGES, 6, admission_id=f"HA{n}")
    found = await discharge_events(bootstrap, f"HA{n}")
    assert found == discharged_then_cancelled(n, "", "-second", "-third")
    dropped = [line for line in service.log.splitlines() if f"A13-{n}-resent" in line]
    assert len(dropped) == 1 and "a held intake no longer applies, dropped" in dropped[0]


async def test_siu_cancellation_before_booking_and_no_show_rules(
    stack_config: Any, service: RunningService, stack_env: dict[str, str]
) -> None:
    n = uid()
    ids = {"patient_id": f"SP{n}", "appointment_id": f"AP{n}"}
    acks = await mllp(
        stack_config.mllp_port,
        siu("S15", f"S15-{n}", **ids),
        siu("S12", f"S12-{n}", **ids, charset="gb18030"),
        siu("S26", f"S26-{n}", **ids),  # a no-show of a cancelled booking: AE
    )
    assert [ack_code(a) for a in acks] == ["AA", "AA", "AE"]
    assert str(acks[2].segment("ERR")(2)) == "SCH^1^2"
    found = await wait_published(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.REGISTRATIONS, 2, registration_id=f"AP{n}"
    )
    assert [e["type"] for _, e in found] == ["registration.created", "registration.cancelled"]
    assert found[0][1]["data"]["patient"]["name"] == "王小明"
    assert found[0][1]["data"]["appointment_at"] == "2026-11-25T14:00:00+08:00"


async def test_pipelined_messages_share_commits_and_keep_their_own_acks(
    stack_config: Any, service: RunningService, stack_env: dict[str, str]
) -> None:
    n = uid()
    messages = [
        adt("A04", f"PL{n}-{i}", patient_id=f"HP{n}", visit_id=f"PV{n}-{i}") for i in range(20)
    ]
    messages[7] = adt("A04", f"PL{n}-7", patient_id=f"HP{n}", visit_id=f"PV{n}-7", phone="")
    messages[12] = messages[11]  # a resend of the same control id
    reader, writer = await asyncio.open_connection("127.0.0.1", stack_config.mllp_port)
    try:
        writer.write(b"".join(framed(m) for m in messages))  # all sent before any ACK is read
        await writer.drain()
        raw = [await asyncio.wait_for(reader.readuntil(END), 30) for _ in messages]
    finally:
        writer.close()
    acks = [hl7.parse(r[1:-2].decode()) for r in raw]
    assert [str(a["MSA.F2"]) for a in acks] == [
        f"PL{n}-{i}" for i in (*range(12), 11, *range(13, 20))
    ]
    assert [ack_code(a) for a in acks] == ["AE" if i == 7 else "AA" for i in range(20)]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    visits = {f"PV{n}-{i}" for i in range(20)} - {f"PV{n}-7", f"PV{n}-12"}

    async def all_published() -> list[str] | None:
        ids = [
            e["data"]["registration_id"]
            for _, e in await published(bootstrap, topics.REGISTRATIONS)
            if e["data"].get("registration_id") in visits | {f"PV{n}-7"}
        ]
        return ids if len(ids) >= len(visits) else None

    ids = await eventually(all_published, timeout=30)
    assert sorted(ids) == sorted(visits)  # once each, the AE one not at all


async def test_ae_and_ar_acks_carry_err(stack_config: Any, service: RunningService) -> None:
    n = uid()
    missing_id = adt("A04", f"AE{n}", patient_id="", visit_id=f"V{n}")
    wrong_type = adt("A04", f"AR{n}", patient_id="P", visit_id=f"V{n}").replace(
        b"ADT^A04", b"ORU^R01"
    )
    ae, ar = await mllp(stack_config.mllp_port, missing_id, wrong_type)
    assert (ack_code(ae), str(ae.segment("ERR")(2))) == ("AE", "PID^1^3")
    assert (ack_code(ar), str(ar["ERR.F3.R1.C1"])) == ("AR", "200")


async def test_unusable_phone_is_published_flagged_not_rejected(
    stack_config: Any, service: RunningService, stack_env: dict[str, str]
) -> None:
    n = uid()
    [ack] = await mllp(
        stack_config.mllp_port,
        adt("A04", f"PH{n}", patient_id=f"HP{n}", visit_id=f"PV{n}", phone="0000"),
    )
    assert ack_code(ack) == "AA"
    [(_, event)] = await wait_published(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.REGISTRATIONS, 1, registration_id=f"PV{n}"
    )
    assert event["data"]["patient"]["phone"] == "0000"
    assert event["phonestatus"] == "unusable"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(payload=st.binary(max_size=300))
async def test_fuzzed_frames_never_stop_the_listener(
    payload: bytes, stack_config: Any, service: RunningService
) -> None:
    body = payload.replace(b"\x1c\x0d", b"")
    reader, writer = await asyncio.open_connection("127.0.0.1", stack_config.mllp_port)
    try:
        writer.write(framed(body))
        await writer.drain()
        reply = await asyncio.wait_for(reader.readuntil(END), 30)
        assert b"MSA|A" in reply
    finally:
        writer.close()
    assert service.process is not None and service.process.poll() is None


async def test_listener_still_takes_messages_after_the_fuzzing(
    stack_config: Any, service: RunningService
) -> None:
    n = uid()
    [ack] = await mllp(
        stack_config.mllp_port, adt("A04", f"AFTER{n}", patient_id="P", visit_id=f"V{n}")
    )
    assert ack_code(ack) == "AA"


# --- production safety -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "auth_tokens"),
    [
        ("production", None),
        ("production", json.dumps({"dev-integration-token": {"role": "integration"}})),
        # Fail closed: any ENV but development, dev or test (in any case) is production.
        ("PRODUCTION", None),
        ("prod", json.dumps({"dev-admin-token": {"role": "admin"}})),
        ("", None),
    ],
    ids=["no-tokens", "dev-token", "upper-case", "prod-dev-token", "empty"],
)
def test_production_refuses_to_start_with_development_tokens(
    stack_config: Any, stack_env: dict[str, str], env: str, auth_tokens: str | None
) -> None:
    # Free ports, so that a service that does start (the defect) cannot fail on a taken one.
    extra = {
        "ENV": env,
        "REGISTRATION_HTTP_PORT": str(free_port()),
        "REGISTRATION_MLLP_PORT": str(free_port()),
        # No identity provider: with one, production may start without static tokens (people
        # and systems then sign in there); without one it must refuse.
        "OIDC_ISSUER_URL": "",
    }
    if auth_tokens:
        extra["AUTH_TOKENS"] = auth_tokens
    log = refused_start_log(stack_config, "registration", extra, log_prefix="registration-prod")
    assert "DevelopmentTokenInProduction" in log


async def pipelined(port: int, *messages: bytes) -> list[hl7.Message]:
    """`messages` sent at once on one connection, then their ACKs read (a sender that does
    not wait: the service stores them as one group)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"".join(framed(m) for m in messages))
        await writer.drain()
        raws = [await asyncio.wait_for(reader.readuntil(END), 30) for _ in messages]
    finally:
        writer.close()
    return [hl7.parse(raw[1:-2].decode("utf-8")) for raw in raws]


async def test_an_overlong_control_id_is_refused_alone_and_the_messages_beside_it_go_through(
    stack_config: Any, service: RunningService, stack_env: dict[str, str]
) -> None:
    """An MSH-10 of 6,000 characters could not be stored (the received messages' key): it was
    AR "resend later" for ever, and every message sent with it at once was AR too, again at
    each resend. It is refused at once now, naming MSH-10, and the others are taken."""
    n = uid()
    long_id = secrets.token_hex(3000)  # random: the key's index compresses "CCC..." to nothing
    good = [adt("A04", f"OK{n}-{i}", patient_id=f"HP{n}{i}", visit_id=f"HV{n}{i}") for i in (1, 3)]
    bad = adt("A04", long_id, patient_id=f"HP{n}2", visit_id=f"HV{n}2")
    acks = await pipelined(stack_config.mllp_port, good[0], bad, good[1])
    assert [ack_code(a) for a in acks] == ["AA", "AR", "AA"], [str(a) for a in acks]
    err = str(acks[1].segment("ERR"))
    assert "MSH^1^10" in err and "MSH-10 is longer than 199 characters" in err, err
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    for i in (1, 3):
        await wait_published(bootstrap, topics.REGISTRATIONS, 1, registration_id=f"HV{n}{i}")


async def test_a_phone_field_of_several_numbers_never_rejects_the_visit(
    stack_config: Any, service: RunningService, stack_env: dict[str, str]
) -> None:
    """PID-13 as HIS systems fill it: several numbers, or one with an extension, past the
    contract's 32 characters. The visit was AE (PID-13 too long) and its discharge lost; now
    the first mobile number among them is the patient's, and a field with none is kept (cut
    to 32) and flagged unusable, the visit published either way."""
    n = uid()
    several = "13800138000/13900139000/13700137000"
    none_usable = "0755-12345678 ext. 1234 / 0755-87654321"
    acks = await mllp(
        stack_config.mllp_port,
        adt("A04", f"PH{n}-1", patient_id=f"HP{n}1", visit_id=f"HV{n}1", phone=several),
        adt("A04", f"PH{n}-2", patient_id=f"HP{n}2", visit_id=f"HV{n}2", phone=none_usable),
    )
    assert [ack_code(a) for a in acks] == ["AA", "AA"], [str(a) for a in acks]
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    [(_, first)] = await wait_published(
        bootstrap, topics.REGISTRATIONS, 1, registration_id=f"HV{n}1"
    )
    assert first["data"]["patient"]["phone"] == "+8613800138000"
    [(_, second)] = await wait_published(
        bootstrap, topics.REGISTRATIONS, 1, registration_id=f"HV{n}2"
    )
    assert len(second["data"]["patient"]["phone"]) <= 32
