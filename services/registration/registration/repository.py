"""SQL of the registration service (asyncpg), set-based so a batch of 1,000 events costs a
handful of statements."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
from pydantic import BaseModel
from pydantic_core import to_json

from hospital_shared.events import (
    DischargeCancelled,
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


# What a patient merge (ADT^A40) moves here: the visits, their stored payloads included.
PATIENT_MOVES = [
    "UPDATE visits SET patient_id = $2, updated_at = now(),"
    " record = CASE WHEN record ? 'patient'"
    " THEN jsonb_set(record, '{patient,patient_id}', to_jsonb($2::text)) ELSE record END"
    " WHERE patient_id = $1"
]


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
        "SELECT v.kind, v.visit_id, v.patient_id, v.status, v.record::text AS record,"
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
            with_phone(json.loads(r["record"]), r["patient_phone"]),
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


def with_phone(record: dict[str, Any], stored_phone: str | None) -> dict[str, Any]:
    """A stored record with its patient's phone back in it: the phone is kept apart, sealed
    (`patient_phone`, migration 350), so that a dump of the table shows no number."""
    patient = record.get("patient")
    phone = open_(stored_phone)
    if isinstance(patient, dict) and phone is not None:
        patient["phone"] = phone
    return record


def phone_of(visit: Visit) -> str | None:
    """The patient's phone of a visit's record, a model's or a stored dict's."""
    record = visit.record
    patient = (
        record.get("patient") if isinstance(record, dict) else getattr(record, "patient", None)
    )
    phone = patient.get("phone") if isinstance(patient, dict) else getattr(patient, "phone", None)
    return phone if isinstance(phone, str) else None


def record_text(visit: Visit) -> str:
    """The visit's record as JSON: a model straight from its fields (no dict in between),
    as `record_json()` would give it."""
    if isinstance(visit.record, BaseModel):
        return to_json(visit.record, exclude_none=True).decode()
    return to_json(visit.record).decode()


async def save_ledger(conn: asyncpg.Connection, ledger: Ledger) -> None:
    changed = [ledger.visits[k] for k in sorted(ledger.changed)]
    if changed:
        await conn.execute(
            "INSERT INTO visits (kind, visit_id, patient_id, status, record, phone_usable,"
            " patient_phone, phone_hash)"
            " SELECT k, i, p, s, r::jsonb #- '{patient,phone}', u, ph, h FROM unnest($1::text[],"
            " $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[], $8::text[])"
            " AS t(k, i, p, s, r, u, ph, h)"
            " ON CONFLICT (kind, visit_id) DO UPDATE SET patient_id = EXCLUDED.patient_id,"
            " status = EXCLUDED.status, record = EXCLUDED.record,"
            " phone_usable = EXCLUDED.phone_usable, patient_phone = EXCLUDED.patient_phone,"
            " phone_hash = EXCLUDED.phone_hash, updated_at = now()",
            [v.kind.value for v in changed],
            [v.visit_id for v in changed],
            [v.patient_id for v in changed],
            [v.status.value for v in changed],
            [record_text(v) for v in changed],
            [v.phone_usable for v in changed],
            [seal(phone_of(v)) for v in changed],
            [search_hash(phone_of(v)) for v in changed],
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
    for patient in ledger.patient_updates:
        await conn.execute(
            "UPDATE visits SET record = jsonb_set(record, '{patient}', $2::jsonb #- '{phone}'),"
            " patient_phone = $3, phone_hash = $4, updated_at = now() WHERE patient_id = $1",
            patient.patient_id,
            patient.model_dump_json(exclude_none=True),
            seal(patient.phone),
            search_hash(patient.phone),
        )
