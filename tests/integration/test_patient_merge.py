"""ADT^A40 on the real stack (Kafka, PostgreSQL, Kannel and the five services): a merge moves
every task, case, message and counter kept under the old patient id to the surviving id,
later input for the old id goes on under the surviving id, and a redelivered merge (the same
record again on Kafka, and the A40 resent by the HIS under a new control id) changes nothing.

"Nothing more happened" is proven with a marker: an event keyed by the old id, on the
merge's partition after the redelivered copy, past which every consumer has committed."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from hospital_shared import topics
from tests.factories import envelope, patient, to_bytes
from tests.integration.services import RunningService, running_all
from tests.integration.test_registration_ingest import ack_code, mllp
from tests.kafka_tools import committed_past, eventually, publish, read_all
from tests.registration.messages import a02, a40, adt

SERVICES = ("registration", "followup", "complaints", "notifications", "metrics")
# Where each service keeps rows under a patient id: (schema, table).
PATIENT_ROWS = (
    ("registration", "visits"),
    ("followup", "follow_up_tasks"),
    ("complaints", "cases"),
    ("notifications", "messages"),
    ("notifications", "patients"),
)
# The SMS the patient gets before the merge: the discharge notice and the complaint's receipt.
PATIENT_SMS = {"discharge_care_notice", "complaint_acknowledgement"}
# The consumers that read the registrations topic (the merge's): service -> handler, whose
# consumer group is `<service>.<handler>`.
MERGE_READERS = {
    "followup": "events",
    "complaints": "patients",
    "notifications": "notify",
    "metrics": "events",
}


@pytest.fixture(scope="module")
def services(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    env = {"notifications": {"NOTIFICATIONS_DISCHARGE_NOTICE_DELAY_MIN": "0"}}
    with running_all(stack_config, SERVICES, env) as running:
        yield running


@pytest.fixture
async def db(stack_env, services) -> AsyncIterator[asyncpg.Connection]:  # type: ignore[no-untyped-def]
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:
        yield conn
    finally:
        await conn.close()


async def rows_by_patient(db: asyncpg.Connection, *ids: str) -> dict[str, int]:
    """`schema.table:patient` -> rows, for every table that keeps rows under a patient id."""
    counts = {}
    for schema, table in PATIENT_ROWS:
        for pid in ids:
            n = await db.fetchval(
                f"SELECT count(*) FROM {schema}.{table} WHERE patient_id = $1", pid
            )
            counts[f"{schema}.{table}:{pid}"] = n
    return counts


async def aliases(db: asyncpg.Connection, *merged: str) -> dict[str, list[tuple[str, str]]]:
    """Each service's aliases, those of the `merged` ids only if given (another test's merges
    on the same stack are not this test's)."""
    found = {}
    for schema in SERVICES:
        rows = await db.fetch(f"SELECT merged_id, surviving_id FROM {schema}.patient_aliases")
        pairs = ((r["merged_id"], r["surviving_id"]) for r in rows)
        found[schema] = sorted(p for p in pairs if not merged or p[0] in merged)
    return found


def expected_aliases(old: str, new: str) -> dict[str, list[tuple[str, str]]]:
    """Every service that keeps rows by patient maps the old id; metrics keeps none (no
    patient id is ever stored or a label there), so it has nothing to move or map."""
    return {s: [] if s == "metrics" else [(old, new)] for s in SERVICES}


async def merges_counted(db: asyncpg.Connection) -> int:
    value = await db.fetchval(
        "SELECT coalesce(sum(value), 0) FROM metrics.counter_totals"
        " WHERE metric LIKE '%events_counted%' AND labels LIKE '%patient.merged%'"
    )
    return int(value)


async def handled_everywhere(bootstrap: str, record: Any) -> bool:
    """Every reader of the registrations has committed past `record`. Not its inbox row:
    complaints keeps none for the events it does not act on (all but the merges)."""
    for service, handler in MERGE_READERS.items():
        if not await committed_past(bootstrap, f"{service}.{handler}", record):
            return False
    return True


async def merge_records(bootstrap: str, merged: str) -> list[Any]:
    records = await read_all(bootstrap, topics.REGISTRATIONS)
    return [
        r
        for r in records
        if json.loads(r.value).get("type") == "patient.merged"
        and json.loads(r.value)["data"]["merged_patient_id"] == merged
    ]


async def admit_and_discharge(old: str, admission: str, port: int, now: datetime) -> None:
    """An admission and its discharge home (now) under `old`: a follow-up task and a
    discharge SMS, sent through Kannel."""
    admitted = adt("A01", f"A01-{admission}", patient_id=old, visit_id=admission,
                   patient_class="I")  # fmt: skip
    discharged = adt(
        "A03", f"A03-{admission}", patient_id=old, visit_id=admission, patient_class="I",
        pv1_extra={36: "01", 45: now.strftime("%Y%m%d%H%M%S%z")},
    )  # fmt: skip
    assert [ack_code(a) for a in await mllp(port, admitted, discharged)] == ["AA", "AA"]


async def test_a_merge_moves_everything_and_is_idempotent_when_redelivered(  # type: ignore[no-untyped-def]
    services, stack_env, stack_config, db
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    n = uuid.uuid4().hex[:8]
    old, new, admission = f"OLD-{n}", f"NEW-{n}", f"ADM-{n}"
    port = stack_config.mllp_port

    now = datetime.now(ZoneInfo("Asia/Shanghai")).replace(microsecond=0)
    await admit_and_discharge(old, admission, port, now)
    complaint = envelope(
        "complaint.submitted",
        {
            "external_id": f"C-{n}",
            "channel": "online",
            "patient": patient(1, patient_id=old),
            "department": {"code": "CARD", "name": "心内科"},
            "description": "心内科医生态度很差，不耐烦",
            "submitted_at": now.isoformat(),
        },
        subject=old,
    )
    await publish(bootstrap, topics.COMPLAINTS_IN, [(old, to_bytes(complaint))])

    async def everything_under_old() -> dict[str, int] | None:
        counts = await rows_by_patient(db, old)
        sms = await db.fetch(
            "SELECT template FROM notifications.messages WHERE patient_id = $1", old
        )
        done = {r["template"] for r in sms} >= PATIENT_SMS
        return counts if all(counts.values()) and done else None

    before = await eventually(everything_under_old, timeout=120)

    [merge_ack] = await mllp(port, a40(f"A40-{n}", (new, old)))
    assert ack_code(merge_ack) == "AA"

    seen: dict[str, int] = {}

    async def everything_under_new() -> dict[str, int] | None:
        seen.update(await rows_by_patient(db, old, new))
        moved = all(seen[f"{k}:{new}"] == before[f"{k}:{old}"] for k in _tables())
        return dict(seen) if moved and not any(seen[f"{k}:{old}"] for k in _tables()) else None

    try:
        after_merge = await eventually(everything_under_new, timeout=120)
    except AssertionError as waited:
        raise AssertionError(f"before the merge {before}, after it {seen}") from waited
    [original] = await merge_records(bootstrap, old)
    assert original.key.decode() == old
    assert await eventually(lambda: handled_everywhere(bootstrap, original))
    assert await aliases(db, old) == expected_aliases(old, new)
    assert await merges_counted(db) == 1

    # Later input for the old id, over HL7, goes on under the surviving id.
    [transfer_ack] = await mllp(port, a02(f"A02-{n}", patient_id=old, admission_id=admission))
    assert ack_code(transfer_ack) == "AA"
    # It goes out under the surviving id, on another partition than the marker below: the
    # marker proves "nothing more happened" only once the transfer itself has been handled.
    [transfer] = await eventually(lambda: hl7_transfers(bootstrap, old, admission), timeout=60)
    assert await eventually(lambda: handled_everywhere(bootstrap, transfer), timeout=120)

    # Redelivered: the same record once more, and the A40 resent under a new control id.
    await publish(bootstrap, topics.REGISTRATIONS, [(old, original.value)])
    [again] = await mllp(port, a40(f"A40-{n}-again", (new, old)))
    assert ack_code(again) == "AA"
    # The marker: a transfer still naming the old id, on the merge's partition after the copy.
    marker = envelope(
        "patient.transferred",
        {
            "patient_id": old,
            "admission_id": admission,
            "department": {"code": "ORTH", "name": "骨科"},
            "transferred_at": "2026-11-23T10:00:00+08:00",
        },
        subject=old,
    )
    [at] = await publish(bootstrap, topics.REGISTRATIONS, [(old, to_bytes(marker))])
    assert await eventually(lambda: handled_everywhere(bootstrap, at), timeout=120)

    assert await rows_by_patient(db, old, new) == after_merge
    assert await aliases(db, old) == expected_aliases(old, new)
    assert await merges_counted(db) == 1
    assert len(await merge_records(bootstrap, old)) == 2  # ours and our copy: none re-published
    task = await db.fetchrow(
        "SELECT patient_id, department_code FROM followup.follow_up_tasks WHERE task_id = $1",
        f"FU-{admission}",
    )
    assert dict(task) == {"patient_id": new, "department_code": "ORTH"}  # the marker, mapped
    transfers = await hl7_transfers(bootstrap, old, admission)
    assert [json.loads(t.value)["data"]["patient_id"] for t in transfers] == [new]


async def hl7_transfers(bootstrap: str, old: str, admission: str) -> list[Any]:
    """The transfers of `admission` registration published under an id other than `old`."""
    return [
        r
        for r in await read_all(bootstrap, topics.REGISTRATIONS)
        if json.loads(r.value).get("type") == "patient.transferred"
        and json.loads(r.value)["data"].get("admission_id") == admission
        and r.key.decode() != old
    ]


def _tables() -> list[str]:
    return [f"{schema}.{table}" for schema, table in PATIENT_ROWS]


async def dead_letters_of(bootstrap: str, event_id: str) -> dict[str, str]:
    """service -> dlq-reason of the dead letters of `event_id` on the registrations' DLQ."""
    found = {}
    for record in await read_all(bootstrap, topics.dead_letter_topic(topics.REGISTRATIONS)):
        headers = {k: v.decode() for k, v in record.headers}
        try:
            same = json.loads(record.value).get("id") == event_id
        except ValueError:
            continue
        if same:
            found[headers["dlq-service"]] = headers["dlq-reason"]
    return found


async def test_a_chain_ends_at_the_last_survivor_and_a_conflicting_merge_is_refused(  # type: ignore[no-untyped-def]
    services, stack_env, stack_config, db
) -> None:
    """A into B, then B into C: both point at C everywhere, and A's task is C's. A into X
    afterwards is refused: AE over HL7; on Kafka, each consumer dead-letters it with the
    reason and goes on (the marker behind it is handled)."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    n = uuid.uuid4().hex[:8]
    a, b, c, x, admission = f"A-{n}", f"B-{n}", f"C-{n}", f"X-{n}", f"ADM-{n}"
    port = stack_config.mllp_port
    now = datetime.now(ZoneInfo("Asia/Shanghai")).replace(microsecond=0)
    await admit_and_discharge(a, admission, port, now)

    async def task_of(patient_id: str) -> bool:
        return bool(
            await db.fetchval(
                "SELECT count(*) FROM followup.follow_up_tasks WHERE patient_id = $1", patient_id
            )
        )

    await eventually(lambda: task_of(a), timeout=120)
    acks = await mllp(port, a40(f"A40-{n}-1", (b, a)), a40(f"A40-{n}-2", (c, b)))
    assert [ack_code(ack) for ack in acks] == ["AA", "AA"]

    async def chained() -> bool:
        return all(
            set(pairs) >= {(a, c), (b, c)}
            for s, pairs in (await aliases(db)).items()
            if s != "metrics"
        )

    await eventually(chained, timeout=120)
    await eventually(lambda: task_of(c), timeout=60)
    assert not await task_of(a) and not await task_of(b)

    [refused] = await mllp(port, a40(f"A40-{n}-3", (x, a)))
    assert ack_code(refused) == "AE"
    assert "already merged into another patient" in str(refused["ERR.F8"])

    conflicting = envelope(
        "patient.merged",
        {"surviving_patient_id": x, "merged_patient_id": a, "merged_at": now.isoformat()},
        subject=a,
    )
    marker = envelope(
        "patient.transferred",
        {
            "patient_id": a,
            "admission_id": admission,
            "department": {"code": "ORTH", "name": "骨科"},
            "transferred_at": now.isoformat(),
        },
        subject=a,
    )
    _, at = await publish(
        bootstrap, topics.REGISTRATIONS, [(a, to_bytes(conflicting)), (a, to_bytes(marker))]
    )
    assert await eventually(lambda: handled_everywhere(bootstrap, at), timeout=180)
    letters = await dead_letters_of(bootstrap, conflicting["id"])
    assert set(letters) == {"followup", "complaints", "notifications"}
    assert all("already merged into another patient" in reason for reason in letters.values())
    assert await task_of(c) and not await task_of(x)


# Tables that keep a patient id and are deliberately not moved by a merge, with the reason.
NOT_MOVED: dict[tuple[str, str], str] = {
    (schema, "access_records"): "who read which patient id, and when: append-only evidence"
    " (a trigger refuses updates); it keeps the id the reader saw"
    for schema in ("registration", "followup", "complaints", "notifications")
}


def merge_moves() -> dict[str, list[str]]:
    """Each service's merge statements, by its schema."""
    from complaints.app import PATIENT_MOVES as complaints_moves
    from followup.app import PATIENT_MOVES as followup_moves
    from notifications.app import PATIENT_MOVES as notifications_moves
    from registration.repository import PATIENT_MOVES as registration_moves

    return {
        "registration": registration_moves,
        "followup": followup_moves,
        "complaints": complaints_moves,
        "notifications": notifications_moves,
    }


async def test_every_table_kept_by_patient_is_moved_by_a_merge(services, db) -> None:  # type: ignore[no-untyped-def]
    """A table added later with a patient id (an enquiry, a piece of feedback) is moved too:
    the services' migrated schemas are read, not a list kept by hand."""
    for schema, statements in merge_moves().items():
        moved = {m.group(1) for s in statements if (m := re.match(r"UPDATE (\w+)", s))}
        kept = {
            r["table_name"]
            for r in await db.fetch(
                "SELECT c.table_name FROM information_schema.columns c"
                " JOIN information_schema.tables t USING (table_schema, table_name)"
                " WHERE c.table_schema = $1 AND c.column_name = 'patient_id'"
                " AND t.table_type = 'BASE TABLE'",
                schema,
            )
        }
        missing = kept - moved - {t for s, t in NOT_MOVED if s == schema}
        assert not missing, f"{schema}: a merge leaves {sorted(missing)} under the old id"
