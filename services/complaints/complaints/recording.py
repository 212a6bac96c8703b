"""One change to a case that keeps its status, written the one way: the new columns, the audit
line and the `complaint.case_*` event, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from complaints import publishing
from complaints import repository as repo
from complaints.access import Actor

Row = dict[str, Any]


async def record_change(
    conn: asyncpg.Connection,
    case: Row,
    changes: Row,
    *,
    action: str,
    event_type: str | None,
    detail: Row,
    actor: Actor,
    now: datetime,
    event_id: str | None = None,
    correlation_id: str | None = None,
) -> Row:
    """Save `changes` to the (locked) `case`, audit `action` with `detail` and queue
    `event_type` (None: audited only; `event_id`: the id of a change a replay makes again,
    `publishing.case_event`). Returns the case as it now is, one version on: a note or a
    record beside the case is a change a step sent with the older version must see."""
    updated = await repo.update_case(conn, case["id"], changes)
    await repo.append_audit(
        conn,
        case["id"],
        at=now,
        actor_id=actor.id,
        actor_role=actor.role,
        action=action,
        from_status=case["status"],
        to_status=updated["status"],
        detail=detail,
    )
    if event_type:
        await publishing.publish_case_event(
            conn,
            event_type,
            updated,
            previous=case["status"],
            actor_id=actor.id,
            actor_role=actor.role,
            at=now,
            correlation_id=correlation_id,
            event_id=event_id,
        )
    return updated
