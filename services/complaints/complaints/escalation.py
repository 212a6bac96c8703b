"""Escalation above the supervisor (院长/主任): a serious case or a medical dispute as soon as
it is opened (issue 21: they "go to the director"), or any case its supervisor cannot settle.
The director is told at once (the `complaint.case_escalated` event, which the notifications
service turns into a message) and approves the resolution within the `director_decision`
limit. That clock runs from when there is a proposal to decide (`domain.director_clock_runs`):
started at opening it would run out during the 4 working days of fact-finding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from complaints import repository as repo
from complaints.access import SYSTEM, Actor
from complaints.domain import (
    DIRECTOR_ROLE,
    ProcedureRefused,
    Status,
    director_clock_runs,
    needs_director,
)
from complaints.policy import CasePolicy, LimitName
from complaints.publishing import case_event
from complaints.recording import record_change
from complaints.repository import AuditEntry
from hospital_shared.outbox import add_encoded_to_outbox
from hospital_shared.vocabulary import SystemNote

Row = dict[str, Any]
log = structlog.get_logger(__name__)
ESCALATED_EVENT = "complaint.case_escalated"
AUTOMATIC_REASON = SystemNote.DIRECTOR_DECIDES.value


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
    """Hand the (locked) case to a director: start the director's clock when a proposal waits
    for the decision, record, publish."""
    director = await director_for(conn)
    if director is None:
        raise ProcedureRefused("there is no active director on the roster to escalate to")
    if director_clock_runs(Status(case["status"])):
        await start_director_clock(conn, policy, case, now)
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


async def start_director_clock(
    conn: asyncpg.Connection, policy: CasePolicy, case: Row, now: datetime
) -> None:
    """The director's decision limit of this cycle, unless one is running already (a proposal
    sent back to fact-finding and proposed again keeps the first clock)."""
    running = [
        d
        for d in await repo.deadlines_of(conn, case["id"], case["cycle"])
        if d["limit_name"] == LimitName.DIRECTOR_DECISION and d["settled_at"] is None
    ]
    due = policy.planned("on_escalation", now)
    if due is not None and not running:
        await repo.insert_deadlines(conn, case["id"], case["cycle"], [due])


async def escalate_on_opening(
    conn: asyncpg.Connection, policy: CasePolicy, case: Row, *, now: datetime
) -> Row:
    """A serious case or a medical dispute goes to the director as it opens. With no director
    on the roster it stays with its supervisor (logged), and its proposal tries again."""
    if not for_the_director(policy, case):
        return case
    if await director_for(conn) is None:
        log.warning("no active director: the case stays with its supervisor",
                    case_number=case["case_number"])  # fmt: skip
        return case
    return await escalate(conn, policy, case, actor=SYSTEM, now=now, reason=AUTOMATIC_REASON)


async def escalate_opened_cases(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    cases: Sequence[Row],
    deadlines: Mapping[int, Sequence[Row]],
    *,
    now: datetime,
) -> None:
    """`escalate_on_opening` for a batch's new cases, in their order, in four statements
    instead of six per case: each director chosen as `director_for` would choose them one
    after the other (the batch's own escalations counted), the cases updated, audited and
    their `case_escalated` events queued in the order one by one would write them. `cases`
    and `deadlines` (case id -> its rows, in due order) as the batch wrote them in this
    transaction, which is what the events show: nothing else can have changed them since."""
    due = [case for case in cases if for_the_director(policy, case)]
    if not due:
        return
    if any(director_clock_runs(Status(case["status"])) for case in due):  # never at opening
        for case in due:
            await escalate_on_opening(conn, policy, case, now=now)
        return
    load = await _director_load(conn)
    if not load:
        for case in due:
            log.warning("no active director: the case stays with its supervisor",
                        case_number=case["case_number"])  # fmt: skip
        return
    directors: dict[int, str] = {}
    for case in due:  # fewest open escalated cases, ties in the roster's order
        director = min(load, key=lambda staff_id: load[staff_id])
        load[director] += 1
        directors[case["id"]] = director
    await repo.escalate_cases(conn, directors, at=now, reason=AUTOMATIC_REASON)
    await repo.append_audits(conn, [
        AuditEntry(
            case["id"], at=now, actor_id=SYSTEM.id, actor_role=SYSTEM.role, action="escalated",
            from_status=case["status"], to_status=case["status"],
            detail={"director_id": directors[case["id"]], "note": AUTOMATIC_REASON},
        )
        for case in due
    ])  # fmt: skip
    await add_encoded_to_outbox(conn, [
        case_event(
            ESCALATED_EVENT,
            case | {"director_id": directors[case["id"]], "escalated_at": now,
                    "escalation_reason": AUTOMATIC_REASON},
            deadlines.get(case["id"], []), previous=case["status"],
            actor_id=SYSTEM.id, actor_role=SYSTEM.role, at=now,
        )
        for case in due
    ])  # fmt: skip


async def _director_load(conn: asyncpg.Connection) -> dict[str, int]:
    """The active directors with their open escalated cases, in `director_for`'s order of
    staff ids (a dict keeps it: `min` takes the first of equals)."""
    rows = await conn.fetch(
        "SELECT s.staff_id, (SELECT count(*) FROM cases c"
        "  WHERE c.director_id = s.staff_id AND c.finished_at IS NULL) AS open_cases"
        " FROM staff s WHERE s.active AND s.role = $1 ORDER BY s.staff_id",
        DIRECTOR_ROLE,
    )
    return {r["staff_id"]: r["open_cases"] for r in rows}


def for_the_director(policy: CasePolicy, case: Row) -> bool:
    """A serious case or a medical dispute, not yet escalated."""
    return case.get("director_id") is None and needs_director(
        serious=case["serious"],
        category=case["category"],
        director_categories=policy.director_categories,
    )
