"""HTTP routes of the department directory: the names of the department codes, for every
screen that shows a code (`GET`), kept by operations (`PUT`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from followup import departments
from followup.access import STAFF_ROLES
from hospital_shared.auth import Principal, Role
from hospital_shared.http_api import Conn, WireTime, require
from hospital_shared.http_guard import GuardedRoute, error
from hospital_shared.problems import VERSION_MISMATCH

# Every member of staff reads the names (an agent's worklist shows departments; the director's
# KPI screen chooses one); the director too, whom the roster's routes do not serve. Only
# operations, who keep the roster, change them.
READERS = (*STAFF_ROLES, Role.DIRECTOR)
Reader = Annotated[Principal, Depends(require(*READERS))]
Operations = Annotated[Principal, Depends(require(Role.ADMIN))]

# The rest of the path as the code: `/v1/departments/A%2FB` is refused as a code (422 naming
# `code`), not answered by another route or a redirect.
CodePath = Annotated[
    str, Path(), StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
]
NameZh = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
NameEn = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]

EXAMPLE: dict[str, Any] = {
    "code": "CARD", "name_zh": "心内科", "name_en": "Cardiology", "active": True,
    "updated_at": "2026-12-08T02:00:00Z", "version": 1,
}  # fmt: skip


class DepartmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name_zh: NameZh = Field(description="the name in Chinese, as staff know the department")
    name_en: NameEn | None = Field(default=None, description="in English; blank: none")
    active: bool = True
    expected_version: int | None = Field(
        default=None,
        ge=0,
        description="the department's `version` the sender read, 0 for a new department: the "
        "save is refused (409) when it is at another (a code already in the directory, for 0); "
        "none: saved over whatever the directory holds",
    )


class DepartmentOut(BaseModel):
    """A department of the directory: its code (as the hospital's systems send it) and names."""

    model_config = ConfigDict(json_schema_extra={"example": EXAMPLE})

    code: str
    name_zh: str
    name_en: str | None
    active: bool = Field(description="false: no longer offered on forms, still named")
    updated_at: WireTime
    version: int = Field(description="raised by every save that changes the department")


class Departments(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"items": [EXAMPLE]}})

    items: list[DepartmentOut] = Field(description="every department, inactive ones too, by code")


class DepartmentSaved(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"changed": True, "department": EXAMPLE}}
    )

    changed: bool = Field(description="false when the directory already said so")
    department: DepartmentOut


CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the department is not at `expected_version` (0: the code is taken)"}
}
router = APIRouter(prefix="/v1", tags=["departments"], route_class=GuardedRoute)


@router.get("/departments", response_model=Departments)
async def list_departments(conn: Conn, _: Reader) -> Departments:
    """Every department with its names, by code: how screens name the codes they show."""
    rows = await departments.list_all(conn)
    return Departments(items=[DepartmentOut(**dict(r)) for r in rows])


@router.put("/departments/{code}", response_model=DepartmentSaved, responses=CONFLICT)
async def save_department(
    code: CodePath, body: DepartmentIn, conn: Conn, _: Operations
) -> DepartmentSaved:
    """Add or rename the department `code` (operations). A code is ASCII letters, digits, `-`
    and `_` (full-width ones taken as ASCII), else 422 naming `code`. With `expected_version`,
    refused (409) unless the department is still at it: 0 adds only."""
    entry = departments.Department(code, body.name_zh, body.name_en or None, body.active)
    try:
        async with conn.transaction():
            saved = await departments.save(conn, entry, expected_version=body.expected_version)
    except departments.CodeRefused as exc:
        raise RequestValidationError([error(["path", "code"], str(exc), "value_error")]) from None
    except departments.StaleDepartment as exc:
        detail = {"message": str(exc), "type": VERSION_MISMATCH,
                  "current_version": exc.current_version}  # fmt: skip
        raise HTTPException(409, detail=detail) from None
    changed, row = saved
    return DepartmentSaved(changed=changed, department=DepartmentOut(**dict(row)))
