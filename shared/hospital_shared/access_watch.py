"""Reading the access records, and watching them: every service with an HTTP API lists its
own (`GET /v1/access-records`, by patient or by staff member, for supervisors and operations)
and runs the watch job, which applies the unusual-access rule and the retention purge.

Unusual access raises a Prometheus alert (`UnusualPatientDataAccess`, for operations) from
the gauge `hospital_access_unusual_readers`, rather than a staff notification through the
notifications service: the alert does not depend on the service being watched staying up,
needs no new event contract between the services, and reaches operations the way every other
operational alert does; `GET /v1/access-records/unusual` then names the staff members."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
import structlog
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from prometheus_client import Gauge
from pydantic import BaseModel, ConfigDict, Field

from hospital_shared import access_records
from hospital_shared.auth import Principal, Role, TokenAuth
from hospital_shared.http_api import (
    Page,
    PageRequest,
    WireTime,
    page_query,
    position_id,
    split_page,
)
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.unusual_access import OutOfScopeRead, UnusualReader, unusual_readers

log = structlog.get_logger(__name__)

UNUSUAL_READERS = Gauge(
    "hospital_access_unusual_readers",
    "Staff members whose reads of patients outside their department or worklist are unusual",
    ["service"],
)


class AccessRecordOut(BaseModel):
    """One read (or refused read) of a patient's records: who, when, through which route."""

    id: int
    at: WireTime
    service: str
    staff_id: str | None
    role: str
    department: str | None
    patient_id: str | None
    record_kind: str
    record_ids: list[str]
    outcome: str = Field(description="granted | denied | purged")
    in_scope: bool
    route: str
    client_addr: str | None
    reason: str | None


class UnusualReaderOut(BaseModel):
    staff_id: str
    patients: int
    first_at: WireTime
    last_at: WireTime


class UnusualOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "window_s": 3600.0,
                "max_patients": 20,
                "unusual": [
                    {"staff_id": "S-DOC-01", "patients": 25,
                     "first_at": "2026-01-02T01:00:00Z", "last_at": "2026-01-02T01:40:00Z"}
                ],
            }
        }
    )  # fmt: skip

    window_s: float
    max_patients: int
    unusual: list[UnusualReaderOut]


def _record_json(row: asyncpg.Record) -> AccessRecordOut:
    return AccessRecordOut.model_validate({**dict(row), "record_ids": list(row["record_ids"])})


KEYSET = frozenset({"at", "id"})


def _before(page: PageRequest) -> tuple[datetime, int] | None:
    """Where a page of the newest-first list starts: before the (at, id) of its cursor."""
    return page.read_position(
        KEYSET, lambda p: (datetime.fromisoformat(p["at"]), position_id(p["id"]))
    )


def _reads_of(shown: list[Any], patient_id: str | None) -> list[access_records.Read]:
    """The listing as reads: a row per patient it named, of the records listed; one of the
    patient asked for when it named nobody."""
    reads = [
        access_records.Read(r["patient_id"], "access_records", str(r["id"]), r["department"])
        for r in shown
    ]
    return reads or [access_records.Read(patient_id, "access_records", "*")]


def build_access_router(auth: TokenAuth) -> APIRouter:
    router = APIRouter(
        prefix="/v1/access-records",
        tags=["access records"],
        route_class=GuardedRoute,
        dependencies=[access_records.BIND_REQUEST],
    )
    # A default, not `Annotated[...]`: with postponed annotations FastAPI cannot resolve a
    # local name and would take the principal for a query parameter.
    managers = Depends(auth.require(Role.SUPERVISOR, Role.ADMIN))
    paging = Depends(page_query(default=100, maximum=1000))

    @router.get("", response_model=Page[AccessRecordOut])
    async def list_access_records(
        request: Request,
        patient_id: Annotated[str | None, Query(max_length=64)] = None,
        staff_id: Annotated[str | None, Query(max_length=64)] = None,
        since: datetime | None = None,
        page: PageRequest = paging,
        who: Principal = managers,
    ) -> Page[AccessRecordOut]:
        """Who read a patient's data (`patient_id`), or whose data a staff member read
        (`staff_id`): newest first, a page at a time (`next`). A supervisor sees the reads of
        their own department's staff, operations (admin) everyone's. The listing is itself a
        read of those patients' records, recorded as one (kind `access_records`)."""
        if not patient_id and not staff_id:
            raise HTTPException(422, "patient_id or staff_id: give one")
        # a ward supervisor must not learn, from the log, of another department's patients'
        # complaints (the records a read was of name them)
        department = (who.department or "") if who.role == Role.SUPERVISOR else None
        async with request.app.state.runtime.pool.acquire() as conn:
            rows = await access_records.list_records(
                conn, patient_id=patient_id, staff_id=staff_id, since=since,
                limit=page.limit + 1, before=_before(page), department=department,
            )  # fmt: skip
            shown, more = split_page(list(rows), page.limit)
            await access_records.record(conn, access_records.Reader.of(who), _reads_of(
                shown, patient_id))  # fmt: skip
        last = shown[-1] if more else None
        position = {"at": last["at"].isoformat(), "id": last["id"]} if last else None
        return page.page(request, [_record_json(r) for r in shown], position)

    @router.get("/unusual", response_model=UnusualOut)
    async def list_unusual(request: Request, _: Principal = managers) -> UnusualOut:
        """The staff members the unusual-access rule names now (the alert's detail)."""
        settings = request.app.state.runtime.settings
        async with request.app.state.runtime.pool.acquire() as conn:
            found = await find_unusual(conn, settings, now=datetime.now(UTC))
        return UnusualOut(
            window_s=settings.access_unusual_window_s,
            max_patients=settings.access_unusual_patients,
            unusual=[
                UnusualReaderOut(staff_id=u.staff_id, patients=u.patients,
                                 first_at=u.first_at, last_at=u.last_at)
                for u in found
            ],
        )  # fmt: skip

    return router


async def find_unusual(conn: asyncpg.Connection, settings: Any, *, now: datetime) -> list[Any]:
    window = timedelta(seconds=settings.access_unusual_window_s)
    rows = await access_records.out_of_scope_since(conn, now - window)
    reads = (OutOfScopeRead(r["staff_id"], r["patient_id"], r["at"]) for r in rows)
    return unusual_readers(
        reads, now=now, window=window, max_patients=settings.access_unusual_patients
    )


async def watch_once(pool: asyncpg.Pool, settings: Any, *, service: str) -> list[UnusualReader]:
    """One pass of the watch job: purge what is past the retention, then set the gauge."""
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        await access_records.purge_expired(
            conn,
            service=service,
            retention=timedelta(days=settings.access_records_retention_days),
            now=now,
        )
        found = await find_unusual(conn, settings, now=now)
    UNUSUAL_READERS.labels(service).set(len(found))
    if found:
        log.warning("unusual access to patient data", staff=[u.staff_id for u in found])
    return found
