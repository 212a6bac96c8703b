"""Escalation above the supervisor (院长/主任): a serious case or a medical dispute when its
resolution is proposed, or any case its supervisor cannot settle. The director approves the
resolution, within the `director_decision` limit, and is told at once (the
`complaint.case_escalated` event, which the notifications service turns into a message)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from complaints import repository as repo
from complaints.access import Actor
from complaints.domain import DIRECTOR_ROLE, ProcedureRefused
from complaints.policy import CasePolicy
from complaints.recording import record_change

Row = dict[str, Any]
ESCALATED_EVENT = "complaint.case_escalated"
AUTOMATIC_REASON = "serious case or medical dispute: the director decides"


async def director_for(conn: asyncpg.Connection) -> str | None:
    """The active director with the fewest open escalated cases (ties: by staff id)."""
    found: str | None = await conn.fetchval(
        "SELECT s.staff_id FROM staff s WHERE s.active AND s.role = $1"
        " ORDER BY (SELECT count(*) FROM cases c"
        "  WHERE c.director_id = s.staff_id AND c.finished_at IS NULL), s.staff_id LIMIT 1",
        DIRECTOR_ROLE,
    )
    return found


async def escalate(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    case: Row,
    *,
    actor: Actor,
    now: datetime,
    reason: str,
) -> Row:
    """Hand the (locked) case to a director: start the director's clock, record, publish."""
    director = await director_for(conn)
    if director is None:
        raise ProcedureRefused("there is no active director on the roster to escalate to")
    due = policy.planned("on_escalation", now)
    if due is not None:
        await repo.insert_deadlines(conn, case["id"], case["cycle"], [due])
    return await record_change(
        conn,
        case,
        {"director_id": director, "escalated_at": now, "escalation_reason": reason},
        action="escalated",
        event_type=ESCALATED_EVENT,
        detail={"director_id": director, "note": reason},
        actor=actor,
        now=now,
    )
