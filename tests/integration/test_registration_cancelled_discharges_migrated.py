"""Registration migration 360 on the real PostgreSQL: admissions an A13 had put back to plain
`admitted` (before `discharge_cancelled` existed) are `discharge_cancelled`, so the same A13
resent under a new MSH-10 is a repeat there too, not held to cancel the next real discharge.
Only those: their record is still the discharge's (an A01's has no `discharged_at`). And a
resend the old code had already held is dropped when the next A03 comes, not applied."""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg

from hospital_shared import db
from hospital_shared.events import DischargeCancelled
from registration.domain import Kind, Ledger
from registration.ingest import Hl7Control, ingest_on
from registration.intake import DischargeNotice, Intake
from registration.phones import normalise_phone
from registration.repository import load_ledger
from tests.factories import NOW, discharge, registration
from tests.integration.schemas import migrations

MIGRATION = "360_mark_cancelled_discharges"
BEFORE = NOW - timedelta(days=3)
DISCHARGE = discharge(1)["data"]
ADMISSION = {k: DISCHARGE[k] for k in ("admission_id", "patient", "department", "admitted_at")}
# (kind, visit id, status before): (record, status after)
ROWS: dict[tuple[str, str, str], tuple[dict[str, Any], str]] = {
    ("admission", "A-back-on-ward", "admitted"): (DISCHARGE, "discharge_cancelled"),
    ("admission", "A-in-hospital", "admitted"): (ADMISSION, "admitted"),
    ("admission", "A-discharged", "discharged"): (DISCHARGE, "discharged"),
    ("admission", "A-cancelled-since", "discharge_cancelled"): (DISCHARGE, "discharge_cancelled"),
    ("admission", "A-then-cancelled", "admission_cancelled"): (DISCHARGE, "admission_cancelled"),
    ("registration", "R-booked", "registered"): (registration(1)["data"], "registered"),
}


async def migrate(conn: asyncpg.Connection, schema: str, folder: Path) -> list[str]:
    folders = {"shared": db.SHARED_MIGRATIONS, "registration": folder}
    return await db.migrate(conn, schema=schema, folders=folders)


def migrations_before(into: Path) -> Path:
    """The registration migrations that came before this one, in a folder of their own."""
    for path in migrations("registration").glob("*.sql"):
        if path.name < MIGRATION:
            shutil.copy(path, into / path.name)
    return into


async def test_admissions_back_on_the_ward_after_an_a13_become_discharge_cancelled(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    schema = f"dcmig_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:
        await migrate(conn, schema, migrations_before(tmp_path))
        await conn.execute(f"SET search_path TO {schema}")
        for (kind, visit_id, status), (record, _) in ROWS.items():
            await conn.execute(
                "INSERT INTO visits (kind, visit_id, patient_id, status, record, phone_usable,"
                " updated_at) VALUES ($1, $2, 'P000001', $3, $4::jsonb, true, $5)",
                kind, visit_id, status, json.dumps(record), BEFORE,
            )  # fmt: skip
        applied = await migrate(conn, schema, migrations("registration"))
        rows = await conn.fetch("SELECT kind, visit_id, status, updated_at FROM visits")
        book = Ledger(normalise=normalise_phone)
        async with conn.transaction():
            await load_ledger(conn, [(Kind.ADMISSION, "A-back-on-ward")], book)
    finally:
        await conn.close()
    assert {(r["kind"], r["visit_id"]): r["status"] for r in rows} == {
        (kind, visit_id): after for (kind, visit_id, _), (_, after) in ROWS.items()
    }
    assert {r["updated_at"] for r in rows} == {BEFORE}  # a label put right, nothing happened
    ran = [a for a in applied if a.startswith("registration/")]
    assert ran[0] == f"registration/{MIGRATION}"  # then the later ones (370 seals the records)
    # the A13 resent under a new MSH-10: a repeat, where it was held for the next discharge
    cancel = DischargeCancelled(admission_id="A-back-on-ward")
    result = book.apply(Intake("discharge.cancelled", cancel, "dc-resent", NOW, "urn:test"))
    assert (result.held, result.published, result.rejection) == (False, [], None)
    assert result.ignored


RESENT = "A-resent-held"  # an admission an A13 left `admitted`, with the same A13 held for it


async def insert_as_0_14_left_them(conn: asyncpg.Connection) -> None:
    """What 0.14.0 stored for A01, A03, A13 and the A13 resent under a new MSH-10: the
    admission plain `admitted` with the discharge's record, and the resend held for it (the
    row `save_ledger` writes) as if it came before a discharge."""
    record = {**DISCHARGE, "admission_id": RESENT}
    await conn.execute(
        "INSERT INTO visits (kind, visit_id, patient_id, status, record, phone_usable,"
        " updated_at) VALUES ('admission', $1, 'P000001', 'admitted', $2::jsonb, true, $3)",
        RESENT, json.dumps(record), BEFORE,
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO held_intakes (kind, visit_id, event_id, type, data, occurred_at, source,"
        " correlation_id, received_at) VALUES ('admission', $1, 'dc-resent',"
        " 'discharge.cancelled', $2::jsonb, $3, 'urn:hospital:registration', 'A13-resent', $4)",
        RESENT, json.dumps({"admission_id": RESENT}), BEFORE + timedelta(hours=1),
        BEFORE + timedelta(hours=2),
    )  # fmt: skip


async def test_an_a13_resend_held_before_the_upgrade_leaves_the_next_discharge_published(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    """0.14.0's rows, upgraded (the migrations from 360 on), then the patient's next A03 taken
    in as HL7 is (`ingest_on`, the real transaction): the held resend was released after it
    and published `discharge.cancelled`, cancelling a real discharge (follow-up withdrew the
    call, notifications the notice). Now the A03 goes out alone and the resend is gone."""
    schema = f"dcheld_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    next_a03 = DischargeNotice(
        admission_id=RESENT,
        fields={"discharged_at": (NOW + timedelta(days=2)).isoformat(), "disposition": "home"},
    )
    try:
        await migrate(conn, schema, migrations_before(tmp_path))
        await conn.execute(f"SET search_path TO {schema}")
        await insert_as_0_14_left_them(conn)
        await migrate(conn, schema, migrations("registration"))
        intake = Intake("discharge.notice", next_a03, "a03-next", NOW, "urn:test", "A03-next")
        async with conn.transaction():
            await ingest_on(
                conn, [intake], normalise=normalise_phone, channel="hl7",
                hl7=Hl7Control("HIS", "A03-next", "ADT^A03"),
            )  # fmt: skip
        outbox = await conn.fetch("SELECT payload FROM outbox ORDER BY id")
        held = await conn.fetchval("SELECT count(*) FROM held_intakes")
        status = await conn.fetchval("SELECT status FROM visits WHERE visit_id = $1", RESENT)
    finally:
        await conn.close()
    assert [json.loads(r["payload"])["type"] for r in outbox] == ["patient.discharged"]
    assert (held, status) == (0, "discharged")
