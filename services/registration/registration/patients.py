"""Finding a patient for staff (the console's patient search): by phone number, name or
patient id, from the visits this service keeps (one patient's visits: visits.py).

An inbound caller is known only by their number, so the phone is searched as the number the
hospital systems sent, normalised to E.164 the same way. Every answer writes access records
(one per patient and visit); the phone is masked for everyone but operations, as the
notifications service masks it (the caller's number is what staff typed; other numbers are
not theirs to read).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from hospital_shared.access_records import Read, Reader, audited_router, record
from hospital_shared.auth import Principal, Role
from hospital_shared.field_crypto import open_, search_hash
from hospital_shared.http_api import (
    Conn,
    Page,
    PageRequest,
    WireTime,
    masked_phone,
    page_query,
    position_text,
    require,
)
from registration.phones import normalise_phone

STAFF = (Role.AGENT, Role.DOCTOR, Role.SUPERVISOR, Role.ADMIN, Role.DIRECTOR)
SEARCH_LIMIT = 20  # the most a search answers at once (an inbound caller's few matches)
# What of a visit's record the patient page shows (the rest is the hospital system's).
VISIT_FIELDS = (
    "registered_at", "visit_type", "channel", "appointment_time", "admitted_at",
    "discharged_at", "disposition", "doctor",
)  # fmt: skip

_SEARCH = """
SELECT DISTINCT ON (patient_id) patient_id, patient_name AS name,
       patient_phone AS phone,
       max(updated_at) OVER (PARTITION BY patient_id) AS last_seen
  FROM visits WHERE WHERE_CLAUSE
 ORDER BY patient_id, updated_at DESC"""

Staff = Annotated[Principal, Depends(require(*STAFF))]
SearchPage = Annotated[PageRequest, Depends(page_query(SEARCH_LIMIT, SEARCH_LIMIT))]
router = audited_router("/v1", "patients")


class PatientFound(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"patient_id": "P000123", "name": "赵一", "phone": "+86139****0123",
                 "last_seen": "2026-12-05T02:00:00Z"}
            ]
        }
    )  # fmt: skip

    patient_id: str
    name: str | None
    phone: str | None = Field(description="E.164, masked for everyone but operations")
    merged_from: str | None = Field(
        default=None, description="the id asked for, when a merge (ADT^A40) made it this patient"
    )
    last_seen: WireTime


def shown_phone(phone: str | None, who: Principal) -> str | None:
    return phone if phone is None or who.role == Role.ADMIN else masked_phone(phone)


async def search(
    conn: asyncpg.Connection,
    *,
    patient_id: str | None,
    phone: str | None,
    name: str | None,
    limit: int = SEARCH_LIMIT,
    after: tuple[datetime, str] | None = None,
) -> list[dict[str, Any]]:
    """The patients found, the most recently seen first, at most `limit`, those after
    `after` (the previous page's last: its last_seen and id) when given."""
    extra: list[str] = []
    if patient_id:
        where, arg = "patient_id = $1", patient_id
    elif phone:  # by its keyed hash; a row the re-seal job has not reached by its plaintext
        where = "(phone_hash = $1 OR (phone_hash IS NULL AND patient_phone = $5))"
        arg, extra = search_hash(phone) or "", [phone]
    else:  # the name's beginning, or the given name after a one-character surname
        where = "(patient_name LIKE $1 || '%' OR substr(patient_name, 2) LIKE $1 || '%')"
        arg = _like_literal(name or "")
    inner = _SEARCH.replace("WHERE_CLAUSE", where)
    sql = (
        f"SELECT * FROM ({inner}) p WHERE $3::timestamptz IS NULL"
        " OR (last_seen, patient_id) < ($3, $4::text)"
        " ORDER BY last_seen DESC, patient_id DESC LIMIT $2"
    )
    at, last_id = after if after is not None else (None, None)
    found = await conn.fetch(sql, arg, limit, at, last_id, *extra)
    return [{**r, "phone": open_(r["phone"])} for r in found]


async def surviving_id(conn: asyncpg.Connection, patient_id: str) -> str:
    """The id a patient is known by now: a merged id (ADT^A40) names its survivor, whose
    visits the merge moved (`merge_rules`: every alias points at a patient never merged)."""
    found: str | None = await conn.fetchval(
        "SELECT surviving_id FROM patient_aliases WHERE merged_id = $1", patient_id
    )
    return found or patient_id


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _after(page: PageRequest) -> tuple[datetime, str] | None:
    """The patient a page starts after: when last seen, and the id."""
    return page.read_position(
        frozenset({"last_seen", "patient_id"}),
        lambda p: (datetime.fromisoformat(p["last_seen"]), position_text(p["patient_id"])),
    )


@router.get("/patients", response_model=Page[PatientFound])
async def find_patients(
    request: Request,
    conn: Conn,
    who: Staff,
    page: SearchPage,
    phone: Annotated[str | None, Query(min_length=3, max_length=32)] = None,
    name: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    patient_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> Page[PatientFound]:
    """Patients whose visits carry this phone number (any form: searched as E.164), this id
    (a merged id finds the surviving patient, `merged_from` naming it), or a name starting so
    or whose given name (after a one-character surname) does; the most recently seen first,
    at most 20 a page."""
    if sum(v is not None for v in (phone, name, patient_id)) != 1:
        raise HTTPException(422, "give one of phone, name or patient_id")
    settings = request.app.state.runtime.settings
    e164 = (
        normalise_phone(
            phone, region=settings.default_phone_region, mobile_only=settings.mobile_only
        ).value
        if phone
        else None
    )  # normalised as the stored ones were (same region and rule)
    current = await surviving_id(conn, patient_id) if patient_id else None
    merged = patient_id if current != patient_id else None
    rows = await search(conn, patient_id=current, phone=e164, name=name,
                        limit=page.limit + 1, after=_after(page))  # fmt: skip
    shown = rows[: page.limit]
    await record(
        conn, Reader.of(who), [Read(r["patient_id"], "patient", r["patient_id"]) for r in shown]
    )
    items = [
        PatientFound(patient_id=r["patient_id"], name=r["name"],
                     phone=shown_phone(r["phone"], who), last_seen=r["last_seen"],
                     merged_from=merged)
        for r in shown
    ]  # fmt: skip
    position = None
    if len(rows) > page.limit:
        last = shown[-1]
        position = {"last_seen": last["last_seen"].isoformat(), "patient_id": last["patient_id"]}
    return page.page(request, items, position)
