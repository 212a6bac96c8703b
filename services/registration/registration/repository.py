"""SQL of the registration service (asyncpg), set-based so a batch of 1,000 events costs a
handful of statements.

A visit's record (the hospital system's document: a discharge's diagnosis, the patient) and
its patient's phone are stored sealed (field_crypto; migrations 350, 370) and opened here, so
the domain sees the plain record. What SQL needs of a record is kept beside it in plain
columns: the patient's name (the staff's search) and the appointment time (retention)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel
from pydantic_core import to_json

from hospital_shared.events import (
    DischargeCancelled,
    Patient,
    RegistrationCancelled,
    RegistrationNoShow,
)
from hospital_shared.field_crypto import open_, seal, search_hash
from registration.domain import Kind, Ledger, Status, Visit, VisitKey
from registration.intake import AdmissionCancelled, Intake

# The only intakes that can be held: they cancel or mark something that may arrive later.
HOLDABLE: dict[str, type[BaseModel]] = {
    "registration.cancelled": RegistrationCancelled,
    "registration.no_show": RegistrationNoShow,
    "discharge.cancelled": DischargeCancelled,
    "admission.cancelled": AdmissionCancelled,
}


async def claim_event_ids(conn: asyncpg.Connection, event_ids: Sequence[str]) -> set[str]:
    """Record ids not seen before; return those (the others are repeats)."""
    rows = await conn.fetch(
        "INSERT INTO received_events (event_id) SELECT unnest($1::text[])"
        " ON CONFLICT DO NOTHING RETURNING event_id",
        list(event_ids),
    )
    return {r["event_id"] for r in rows}


async def claim_hl7_control_id(
    conn: asyncpg.Connection, *, sender: str, control_id: str, message_type: str
) -> bool:
    """True when this MSH-10 is new for this sender; False for a repeat."""
    row = await conn.fetchval(
        "INSERT INTO hl7_messages (sender, control_id, message_type) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        sender,
        control_id,
        message_type,
    )
    return row is not None


# What a patient merge (ADT^A40) moves here: the visits. Their sealed records keep the
# merged id; the store reads the patient's id from the column (`stored_record`).
PATIENT_MOVES = ["UPDATE visits SET patient_id = $2, updated_at = now() WHERE patient_id = $1"]


async def load_ledger(conn: asyncpg.Connection, keys: Iterable[VisitKey], ledger: Ledger) -> None:
    """Lock the visits (existing or not yet) for this transaction and load them into `ledger`."""
    wanted = sorted({f"{kind}:{visit_id}" for kind, visit_id in keys})
    if not wanted:
        return
    await conn.execute(
        "SELECT count(pg_advisory_xact_lock(h)) FROM"
        " (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) k ORDER BY 1) s",
        wanted,
    )
    kinds = [k.split(":", 1)[0] for k in wanted]
    ids = [k.split(":", 1)[1] for k in wanted]
    rows = await conn.fetch(
        "SELECT v.kind, v.visit_id, v.patient_id, v.status, v.record,"
        " v.phone_usable, v.patient_phone FROM visits v JOIN unnest($1::text[], $2::text[]) AS w(kind, visit_id)"
        " USING (kind, visit_id)",
        kinds,
        ids,
    )
    for r in rows:
        visit = Visit(
            Kind(r["kind"]),
            r["visit_id"],
            r["patient_id"],
            Status(r["status"]),
            stored_record(r),
            r["phone_usable"],
        )
        ledger.visits[(visit.kind, visit.visit_id)] = visit
    held = await conn.fetch(
        "SELECT h.kind, h.visit_id, h.event_id, h.type, h.data::text AS data, h.occurred_at,"
        " h.source, h.correlation_id FROM held_intakes h"
        " JOIN unnest($1::text[], $2::text[]) AS w(kind, visit_id) USING (kind, visit_id)"
        " ORDER BY h.seq",
        kinds,
        ids,
    )
    for h in held:
        model = HOLDABLE[h["type"]]
        intake = Intake(
            h["type"],
            model.model_validate_json(h["data"]),
            h["event_id"],
            h["occurred_at"],
            h["source"],
            h["correlation_id"],
        )
        ledger.pending.setdefault((Kind(h["kind"]), h["visit_id"]), []).append(intake)


def stored_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A visit row's record as the code knows it: `opened_record`, with the patient's phone,
    kept apart and sealed (`patient_phone`, migration 350)."""
    return with_phone(opened_record(row), row["patient_phone"])


def opened_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A visit row's record opened (a row the re-seal job has not reached yet holds its JSON
    as it is), with the row's patient id (a merge moves only the column); no phone."""
    record: dict[str, Any] = json.loads(open_(row["record"]) or "{}")
    patient = record.get("patient")
    if isinstance(patient, dict):
        patient["patient_id"] = row["patient_id"]
    return record


def with_phone(record: dict[str, Any], stored_phone: str | None) -> dict[str, Any]:
    """A stored record with its patient's phone back in it: the phone is kept apart, sealed
    (`patient_phone`, migration 350), so that a dump of the table shows no number."""
    patient = record.get("patient")
    phone = open_(stored_phone)
    if isinstance(patient, dict) and phone is not None:
        patient["phone"] = phone
    return record


def patient_field(visit: Visit, name: str) -> str | None:
    """A field of the patient of a visit's record (phone, name), a model's or a stored dict's."""
    record = visit.record
    patient = (
        record.get("patient") if isinstance(record, dict) else getattr(record, "patient", None)
    )
    value = patient.get(name) if isinstance(patient, dict) else getattr(patient, name, None)
    return value if isinstance(value, str) else None


def appointment_of(visit: Visit) -> datetime | None:
    """When a registration's appointment is (retention keeps a booking until it is past)."""
    record = visit.record
    when = record.get("appointment_at") if isinstance(record, dict) else None
    if isinstance(record, BaseModel):
        when = getattr(record, "appointment_at", None)
    return datetime.fromisoformat(when) if isinstance(when, str) else when


def sealed_record(visit: Visit) -> str | None:
    """The visit's record as stored: its JSON without the phone (kept apart), sealed. A model
    is written straight from its fields (no dict in between), as `record_json()` gives it."""
    return seal(_without_phone(visit.record))


def _without_phone(record: BaseModel | dict[str, Any]) -> str:
    if isinstance(record, BaseModel):
        return to_json(record, exclude_none=True, exclude=_PHONE).decode()
    return to_json(record, exclude=_PHONE).decode()


_PHONE = {"patient": {"phone"}}


async def save_ledger(conn: asyncpg.Connection, ledger: Ledger) -> None:
    changed = [ledger.visits[k] for k in sorted(ledger.changed)]
    if changed:
        await conn.execute(
            "INSERT INTO visits (kind, visit_id, patient_id, status, record, phone_usable,"
            " patient_phone, phone_hash, patient_name, appointment_at)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
            " $6::bool[], $7::text[], $8::text[], $9::text[], $10::timestamptz[])"
            " ON CONFLICT (kind, visit_id) DO UPDATE SET patient_id = EXCLUDED.patient_id,"
            " status = EXCLUDED.status, record = EXCLUDED.record,"
            " phone_usable = EXCLUDED.phone_usable, patient_phone = EXCLUDED.patient_phone,"
            " phone_hash = EXCLUDED.phone_hash, patient_name = EXCLUDED.patient_name,"
            " appointment_at = EXCLUDED.appointment_at, updated_at = now()",
            [v.kind.value for v in changed],
            [v.visit_id for v in changed],
            [v.patient_id for v in changed],
            [v.status.value for v in changed],
            [sealed_record(v) for v in changed],
            [v.phone_usable for v in changed],
            [seal(patient_field(v, "phone")) for v in changed],
            [search_hash(patient_field(v, "phone")) for v in changed],
            [patient_field(v, "name") for v in changed],
            [appointment_of(v) for v in changed],
        )
    if ledger.pending_changed:
        keys = sorted(ledger.pending_changed)
        await conn.execute(
            "DELETE FROM held_intakes h USING unnest($1::text[], $2::text[]) AS w(kind, visit_id)"
            " WHERE h.kind = w.kind AND h.visit_id = w.visit_id",
            [k.value for k, _ in keys],
            [i for _, i in keys],
        )
        rows = [
            (k.value, i, h.event_id, h.type, h.data.model_dump_json(), h.time, h.source,
             h.correlation_id)
            for k, i in keys
            for h in ledger.pending.get((k, i), [])
        ]  # fmt: skip
        if rows:
            await conn.executemany(
                "INSERT INTO held_intakes (kind, visit_id, event_id, type, data, occurred_at,"
                " source, correlation_id) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)"
                " ON CONFLICT DO NOTHING",
                rows,
            )
    if ledger.patient_updates:
        await _update_patients(conn, ledger.patient_updates)


async def _update_patients(conn: asyncpg.Connection, updates: list[Patient]) -> None:
    """Every visit of an updated patient (ADT^A08) takes the patient's new details: their
    records are opened, changed and sealed again here (the database cannot change a sealed
    record). A patient updated twice in a batch keeps the last."""
    latest = {p.patient_id: p for p in updates}
    rows = await conn.fetch(
        "SELECT kind, visit_id, patient_id, record, patient_phone FROM visits"
        " WHERE patient_id = ANY($1::text[]) ORDER BY kind, visit_id FOR UPDATE",
        sorted(latest),
    )
    records = []
    for r in rows:
        record = stored_record(r)
        record["patient"] = latest[r["patient_id"]].model_dump(mode="json", exclude_none=True)
        records.append(record)
    patients = [latest[r["patient_id"]] for r in rows]
    await conn.execute(
        "UPDATE visits v SET record = u.r, patient_phone = u.ph, phone_hash = u.h,"
        " patient_name = u.n, updated_at = now() FROM unnest($1::text[], $2::text[],"
        " $3::text[], $4::text[], $5::text[], $6::text[]) AS u(k, i, r, ph, h, n)"
        " WHERE v.kind = u.k AND v.visit_id = u.i",
        [r["kind"] for r in rows],
        [r["visit_id"] for r in rows],
        [seal(_without_phone(record)) for record in records],
        [seal(p.phone) for p in patients],
        [search_hash(p.phone) for p in patients],
        [p.name for p in patients],
    )
