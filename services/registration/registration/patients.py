"""Finding a patient for staff (the console's patient search): by phone number, name or
patient id, from the visits this service keeps, and one patient's visits and discharges.

An inbound caller is known only by their number, so the phone is searched as the number the
hospital systems sent, normalised to E.164 the same way. Every answer writes access records
(one per patient and visit); the phone is masked for everyone but operations, as the
notifications service masks it (the caller's number is what staff typed; other numbers are
not theirs to read).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, HTTPException, Query, Request

from hospital_shared.access_records import Read, Reader, audited_router, record
from hospital_shared.auth import Principal, Role, TokenAuth
from hospital_shared.logging import mask_phone
from registration.phones import PhoneCheck

STAFF = (Role.AGENT, Role.DOCTOR, Role.SUPERVISOR, Role.ADMIN, Role.DIRECTOR)
SEARCH_LIMIT = 20
# What of a visit's record the patient page shows (the rest is the hospital system's).
VISIT_FIELDS = (
    "registered_at", "visit_type", "channel", "appointment_time", "admitted_at",
    "discharged_at", "disposition", "doctor",
)  # fmt: skip

_SEARCH = """
SELECT DISTINCT ON (patient_id) patient_id, record #>> '{patient,name}' AS name,
       record #>> '{patient,phone}' AS phone,
       max(updated_at) OVER (PARTITION BY patient_id) AS last_seen
  FROM visits WHERE WHERE_CLAUSE
 ORDER BY patient_id, updated_at DESC"""


def _shown_phone(phone: str | None, who: Principal) -> str | None:
    return phone if phone is None or who.role == Role.ADMIN else mask_phone(phone)


async def search(
    conn: asyncpg.Connection, *, patient_id: str | None, phone: str | None, name: str | None
) -> list[asyncpg.Record]:
    if patient_id:
        where, arg = "patient_id = $1", patient_id
    elif phone:
        where, arg = "record #>> '{patient,phone}' = $1", phone
    else:  # the name's beginning, or the given name after a one-character surname
        where = (
            "(record #>> '{patient,name}' LIKE $1 || '%'"
            " OR substr(record #>> '{patient,name}', 2) LIKE $1 || '%')"
        )
        arg = _like_literal(name or "")
    inner = _SEARCH.replace("WHERE_CLAUSE", where)
    sql = f"SELECT * FROM ({inner}) p ORDER BY last_seen DESC LIMIT {SEARCH_LIMIT}"
    return await conn.fetch(sql, arg)


async def surviving_id(conn: asyncpg.Connection, patient_id: str) -> str:
    """The id a patient is known by now: a merged id (ADT^A40) names its survivor, whose
    visits the merge moved (`merge_rules`: every alias points at a patient never merged)."""
    found: str | None = await conn.fetchval(
        "SELECT surviving_id FROM patient_aliases WHERE merged_id = $1", patient_id
    )
    return found or patient_id


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _record(row: asyncpg.Record) -> dict[str, Any]:
    rec = row["record"]  # jsonb comes as its text (no codec on the pool)
    parsed: dict[str, Any] = json.loads(rec) if isinstance(rec, str) else dict(rec)
    return parsed


def visit_view(row: asyncpg.Record) -> dict[str, Any]:
    rec = _record(row)
    department = rec.get("department") or {}
    return {
        "kind": row["kind"],
        "visit_id": row["visit_id"],
        "status": row["status"],
        "department": {"code": department.get("code"), "name": department.get("name")},
        **{key: rec[key] for key in VISIT_FIELDS if rec.get(key) is not None},
    }


def patients_router(auth: TokenAuth, normalise: Callable[[str], PhoneCheck]) -> Any:
    router = audited_router("/v1", "patients")
    staff = Depends(auth.require(*STAFF))

    def pool(request: Request) -> asyncpg.Pool:
        return request.app.state.runtime.pool

    @router.get("/patients")
    async def find_patients(
        request: Request,
        who: Principal = staff,
        phone: Annotated[str | None, Query(min_length=3, max_length=32)] = None,
        name: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
        patient_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    ) -> dict[str, Any]:
        """Patients whose visits carry this phone number, this id (a merged id finds the
        surviving patient, `merged_from` naming it), or a name starting so or whose given
        name (after a one-character surname) does (at most 20, the most recently seen first)."""
        if sum(v is not None for v in (phone, name, patient_id)) != 1:
            raise HTTPException(422, "give one of phone, name or patient_id")
        e164 = normalise(phone).value if phone else None
        async with pool(request).acquire() as conn:
            current = await surviving_id(conn, patient_id) if patient_id else None
            rows = await search(conn, patient_id=current, phone=e164, name=name)
            reads = [Read(r["patient_id"], "patient", r["patient_id"]) for r in rows]
            await record(conn, Reader.of(who), reads)
        merged = {"merged_from": patient_id} if current != patient_id else {}
        return {
            "patients": [
                {"patient_id": r["patient_id"], "name": r["name"],
                 "phone": _shown_phone(r["phone"], who), "last_seen": r["last_seen"].isoformat(),
                 **merged}
                for r in rows
            ]
        }  # fmt: skip

    @router.get("/patients/{patient_id}/visits")
    async def visits_of(
        request: Request, patient_id: str, who: Principal = staff
    ) -> dict[str, Any]:
        """A patient's visits and admissions (department, dates, disposition), newest first;
        a merged id's are the survivor's, who is named (`merged_from`: the id asked for)."""
        asked = patient_id
        async with pool(request).acquire() as conn:
            patient_id = await surviving_id(conn, asked)
            rows = await conn.fetch(
                "SELECT kind, visit_id, status, record, updated_at FROM visits"
                " WHERE patient_id = $1 ORDER BY updated_at DESC LIMIT 200",
                patient_id,
            )
            if not rows:
                raise HTTPException(404, f"no visits of patient {patient_id}")
            views = [visit_view(r) for r in rows]
            reads = [
                Read(patient_id, "visit", v["visit_id"], department=v["department"]["code"])
                for v in views
            ]
            await record(conn, Reader.of(who), reads)
        patient = _record(rows[0]).get("patient") or {}
        return {
            "patient": {
                "patient_id": patient_id,
                "name": patient.get("name"),
                "phone": _shown_phone(patient.get("phone"), who),
            },
            "visits": views,
            **({"merged_from": asked} if asked != patient_id else {}),
        }

    return router
