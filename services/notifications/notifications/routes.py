"""The HTTP edge every notifications router shares: who may call (the role groups as
dependencies, one place), the refusals a route documents itself, and the one mapping
from the use cases' refusals (notifications.message_cases) to HTTP statuses."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException
from fastapi.exceptions import RequestValidationError

from hospital_shared.auth import Principal, Role
from hospital_shared.http_api import PageRequest, position_id, require
from hospital_shared.http_guard import error
from notifications.refusals import Conflict, Invalid, NotFound, Refused

STAFF_ROLES = (Role.AGENT, Role.DOCTOR, Role.SUPERVISOR, Role.DIRECTOR, Role.ADMIN)

Staff = Annotated[Principal, Depends(require(*STAFF_ROLES))]
Manager = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.ADMIN))]
Supervisor = Annotated[Principal, Depends(require(Role.SUPERVISOR))]
Operations = Annotated[Principal, Depends(require(Role.ADMIN))]
RotaReader = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.DIRECTOR, Role.ADMIN))]
# Recording an opt-out a patient asks for: any staff on a call, and the hospital systems.
OptOutRecorder = Annotated[
    Principal,
    Depends(require(Role.AGENT, Role.DOCTOR, Role.SUPERVISOR, Role.ADMIN, Role.INTEGRATION)),
]


# 401, 403, 404 (on a route with a path parameter) and 422 are documented for every route,
# as problems (hospital_shared.problems); these are the others a route declares itself.
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the record's state refuses this"}
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such record"}}
INVALID: dict[int | str, dict[str, Any]] = {422: {"description": "a bad field, named in `errors`"}}


@contextlib.contextmanager
def refusals() -> Iterator[None]:
    """The use cases' refusals as HTTP answers: 404, 409, 403, and 422 naming the field."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    except Refused as exc:
        raise HTTPException(403, str(exc)) from None
    except Invalid as exc:
        raise RequestValidationError(
            [error(["body", exc.field], str(exc), "value_error")]
        ) from None


def id_after(page: PageRequest) -> int | None:
    """The id a page of an id-ordered list starts after (None: the first page); a cursor
    that holds no such id is a 422 naming `cursor`."""
    return page.read_position(frozenset({"id"}), lambda p: position_id(p["id"]))


MESSAGE_POSITION = frozenset({"created_at", "id"})


def message_after(page: PageRequest) -> tuple[datetime, uuid.UUID] | None:
    """The message a page of a newest-first message list starts after: its created_at and id
    (None: the first page); a cursor holding neither is a 422 naming `cursor`."""
    return page.read_position(
        MESSAGE_POSITION, lambda p: (datetime.fromisoformat(p["created_at"]), uuid.UUID(p["id"]))
    )


def message_position(last: Mapping[str, Any] | None) -> dict[str, str] | None:
    """The cursor position after `last`, the page's last message (None: no page follows)."""
    if last is None:
        return None
    return {"created_at": last["created_at"].isoformat(), "id": str(last["id"])}
