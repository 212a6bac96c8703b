"""One patient's visits and admissions for staff (the patient page, the call screen): a page
of them, the newest first, each page naming the patient (masked as in the search, patients.py)
and, when a merge (ADT^A40) made the id asked for another patient's, that id."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from fastapi import HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from hospital_shared.access_records import Read, Reader, audited_router, record
from hospital_shared.auth import Principal
from hospital_shared.http_api import (
    Conn,
    Page,
    PageQuery,
    PageRequest,
    WireTime,
    position_text,
    split_page,
)
from registration.domain import Status
from registration.patients import VISIT_FIELDS, Staff, shown_phone, surviving_id
from registration.repository import opened_record, stored_record

router = audited_router("/v1", "patients")


class Department(BaseModel):
    code: str | None
    name: str | None


class VisitView(BaseModel):
    """A visit (`registration`) or an admission (`admission`) as the patient page shows it;
    the rest of the record is the hospital system's."""

    kind: str = Field(description="registration | admission")
    visit_id: str
    status: str
    department: Department
    registered_at: WireTime | None = None
    visit_type: str | None = None
    channel: str | None = None
    appointment_time: WireTime | None = None
    admitted_at: WireTime | None = None
    discharged_at: WireTime | None = None
    disposition: str | None = None
    doctor: str | None = None


class PatientShown(BaseModel):
    patient_id: str
    name: str | None
    phone: str | None = Field(description="E.164, masked for everyone but operations")


class PatientVisits(Page[VisitView]):
    """One page of a patient's visits and admissions, the newest first, with the patient they
    are of (every page names them: a client may start at any page's link)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "patient": {"patient_id": "P000123", "name": "赵一", "phone": "+86139****0123"},
                    "items": [
                        {"kind": "admission", "visit_id": "A-1", "status": "discharged",
                         "department": {"code": "CARD", "name": "心内科"},
                         "admitted_at": "2026-12-01T01:00:00Z",
                         "discharged_at": "2026-12-04T03:00:00Z", "disposition": "home"}
                    ],
                    "next": None,
                    "limit": 50,
                }
            ]
        }
    )  # fmt: skip

    patient: PatientShown
    merged_from: str | None = Field(
        default=None, description="the id asked for, when a merge (ADT^A40) made it this patient"
    )


# What a visit's record keeps but its status says is no longer so: a stay not discharged now
# has no discharge to show. One whose discharge was cancelled (ADT^A13) has the patient on the
# ward again, and its record still holds the cancelled discharge's time and disposition (the
# next A03 is completed from it); an admission cancelled after that (A11) too.
_DISCHARGE = frozenset({"discharged_at", "disposition"})


def visit_view(row: asyncpg.Record) -> VisitView:
    rec = opened_record(row)
    department = rec.get("department") or {}
    discharged = row["kind"] != "admission" or row["status"] == Status.DISCHARGED.value
    hidden = frozenset() if discharged else _DISCHARGE
    return VisitView(
        kind=row["kind"],
        visit_id=row["visit_id"],
        status=row["status"],
        department=Department(code=department.get("code"), name=department.get("name")),
        **{k: rec[k] for k in VISIT_FIELDS if rec.get(k) is not None and k not in hidden},
    )


_VISIT_POSITION = frozenset({"updated_at", "kind", "visit_id"})
_VISITS = """
SELECT kind, visit_id, patient_id, status, record, updated_at FROM visits
 WHERE patient_id = $1 AND ($3::timestamptz IS NULL OR (updated_at, kind, visit_id) < ($3, $4, $5))
 ORDER BY updated_at DESC, kind DESC, visit_id DESC LIMIT $2"""


def _visit_after(page: PageRequest) -> tuple[datetime | None, str | None, str | None]:
    """The visit a page starts after (its updated_at, kind and id), Nones on the first page."""
    found = page.read_position(
        _VISIT_POSITION,
        lambda p: (
            datetime.fromisoformat(p["updated_at"]),
            position_text(p["kind"]),
            position_text(p["visit_id"]),
        ),
    )
    return found if found is not None else (None, None, None)


async def _patient_shown(conn: asyncpg.Connection, patient_id: str, who: Principal) -> PatientShown:
    """The patient as their newest visit names them; 404 when no visit is theirs."""
    row = await conn.fetchrow(
        "SELECT patient_id, record, patient_phone FROM visits WHERE patient_id = $1"
        " ORDER BY updated_at DESC LIMIT 1",
        patient_id,
    )
    if row is None:
        raise HTTPException(404, f"no visits of patient {patient_id}")
    patient = stored_record(row).get("patient") or {}
    phone = shown_phone(patient.get("phone"), who)
    return PatientShown(patient_id=patient_id, name=patient.get("name"), phone=phone)


@router.get("/patients/{patient_id}/visits", response_model=PatientVisits)
async def visits_of(
    request: Request, conn: Conn, patient_id: str, who: Staff, page: PageQuery
) -> PatientVisits:
    """A patient's visits and admissions (department, dates, disposition), newest first;
    a merged id's are the survivor's, who is named (`merged_from`: the id asked for)."""
    asked = patient_id
    patient_id = await surviving_id(conn, asked)
    shown = await _patient_shown(conn, patient_id, who)
    rows = await conn.fetch(_VISITS, patient_id, page.limit + 1, *_visit_after(page))
    listed, more = split_page(list(rows), page.limit)
    views = [visit_view(r) for r in listed]
    reads = [Read(patient_id, "visit", v.visit_id, department=v.department.code) for v in views]
    await record(conn, Reader.of(who), reads or [Read(patient_id, "patient", patient_id)])
    last = listed[-1] if more else None
    position = (
        {"updated_at": last["updated_at"].isoformat(), "kind": last["kind"],
         "visit_id": last["visit_id"]} if last else None
    )  # fmt: skip
    visits = page.page(request, views, position)
    merged = asked if asked != patient_id else None
    return PatientVisits(
        items=visits.items, next=visits.next, limit=visits.limit, patient=shown,
        merged_from=merged,
    )  # fmt: skip
