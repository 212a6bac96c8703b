"""The open enquiries (咨询) of a member made inactive, given a role that may not hold them, or
moved to another department than the one they hold them for (`handback_rules`), handed back with their cases (`handback.hand_back_open_cases`, in the same transaction, under
the same locks). Under first-contact responsibility an enquiry is its owner's until answered or
handed over: one left with somebody who left would be answered by nobody until its time limit
breached, and its alerts would go to a supervisor who left.

An enquiry the member owns goes where a new case of the department answering for it would go
(`assignment.assign`: the owner's department, else the one asked about; the least-loaded active
agent or doctor there, else at the complaint desk; with none, the supervisor; with nobody at
all, no owner, and the supervisors of its departments still see it). Its supervisor is then
chosen as a hand-over chooses one (`enquiry_cases.hand_over`: the department asked about, the
new owner's, the desk). One the member only supervises gets a new supervisor by that rule.
Recorded as a hand-over is (history `handed_over` from/to with the reason, by the system;
`supervisor_assigned` whenever the supervisor changes, with the owner's leaving as the reason
when it only follows the new owner) and announced as `enquiry.handed_over`, one event an
enquiry, its id made from the enquiry, the roster event and who takes over: a replay of the
roster event after a restore queues no second one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg

from complaints import enquiry_store as store
from complaints import roster
from complaints.access import SYSTEM
from complaints.assignment import Duty, Workload, assign, supervisor_for
from complaints.enquiry_events import changed, publish
from complaints.handback_rules import GivenUp
from complaints.policy import CasePolicy
from complaints.publishing import uuid5_text
from hospital_shared.vocabulary import EventName, SystemNote

Row = dict[str, Any]
# (someone took it over, nobody could): for the owner, then for the supervisor.
Notes = tuple[SystemNote, SystemNote]

# $2: those they own, $3: those they supervise.
_OPEN_ENQUIRIES_OF = (
    "SELECT * FROM enquiries WHERE ((owner_id = $1 AND $2) OR (supervisor_id = $1 AND $3))"
    " AND status = 'open' ORDER BY id FOR UPDATE"
)
# The namespace of hand-back event ids (uuid5 of "enquiry hand-back").
_NAMESPACE = bytes.fromhex("5d0f7b0c8a2e5f3c9b1e4a6d7c8e9f01")


async def open_enquiries_of(
    conn: asyncpg.Connection, staff_id: str, duties: Iterable[Duty]
) -> list[Row]:
    """The open enquiries `staff_id` owns (`Duty.HANDLE` given up) or supervises
    (`Duty.SUPERVISE`), locked to the commit: an answer or hand-over under way finishes first."""
    wanted = set(duties)
    rows = await conn.fetch(
        _OPEN_ENQUIRIES_OF, staff_id, Duty.HANDLE in wanted, Duty.SUPERVISE in wanted
    )
    return [store.opened("enquiries", r) for r in rows]


def answering_department(enquiry: Row) -> str | None:
    """The department whose staff take the enquiry over: its owner's, else the one asked about."""
    return enquiry["owner_department"] or enquiry["department_code"]


def supervising_departments(enquiry: Row, owner_department: str | None, desk: str) -> list[str]:
    """Where its supervisor is looked for, in order, as a hand-over looks."""
    return [d for d in dict.fromkeys((enquiry["department_code"], owner_department, desk)) if d]


def given_up_of(
    policy: CasePolicy, enquiry: Row, staff_id: str, given_up: GivenUp
) -> tuple[bool, bool]:
    """(its owner changes, its supervisor changes): what `staff_id` gives up of `enquiry`, owned
    for the department answering it and supervised for the first it looks for a supervisor in
    (`handback_rules`)."""
    supervised_for = supervising_departments(
        enquiry, enquiry["owner_department"], policy.desk_department
    )[0]
    return given_up.holds(
        staff_id, holder=enquiry["owner_id"], supervisor=enquiry["supervisor_id"],
        held_for=answering_department(enquiry), supervised_for=supervised_for,
    )  # fmt: skip


def handback_changes(
    policy: CasePolicy,
    workload: Workload,
    enquiry: Row,
    *,
    owner: bool,
    supervisor: bool,
    notes: tuple[Notes, Notes],
) -> tuple[Row, list[tuple[str, Row]]]:
    """The enquiry's new columns and its history lines (action, detail): a new owner (`owner`:
    its own gives it up) and the supervisor that owner brings, or a new supervisor only
    (`supervisor`). The chosen owner's load grows by one."""
    changes: Row = {}
    lines: list[tuple[str, Row]] = []
    department = enquiry["owner_department"]
    chosen = (
        assign(policy, workload, answering_department(enquiry), serious=False) if owner else None
    )
    # Chosen again (a member moved into the desk, the department answering it has nobody): it
    # stays theirs, nothing to write.
    owner = chosen is not None and chosen.assignee_id != enquiry["owner_id"]
    if owner and chosen is not None:
        changes["owner_id"] = chosen.assignee_id
        if chosen.assignee_id is not None:
            department = changes["owner_department"] = chosen.handling_department
        reason = notes[0][0] if chosen.assignee_id else notes[0][1]
        lines.append(("handed_over", _detail(enquiry["owner_id"], chosen.assignee_id, reason)))
    if not (owner or supervisor):
        return changes, lines
    departments = supervising_departments(enquiry, department, policy.desk_department)
    new_supervisor = supervisor_for(departments, workload)[0]
    if new_supervisor != enquiry["supervisor_id"]:
        changes["supervisor_id"] = new_supervisor
        # Every change of supervisor is written down, with why: its own leaving, else the
        # owner's (it follows the new owner, as the owner's department changed).
        if supervisor or not owner:
            reason = notes[1][0] if new_supervisor else notes[1][1]
        else:
            reason = notes[0][0]
        detail = _detail(enquiry["supervisor_id"], new_supervisor, reason)
        lines.append(("supervisor_assigned", detail))
    return changes, lines


def _detail(was: str | None, now: str | None, reason: SystemNote) -> Row:
    return {"from": was, "to": now, "reason": reason.value}


def handback_event_id(enquiry: Row, roster_event_id: str, changes: Row) -> str:
    """One roster change hands an enquiry back once, to whom `changes` name: the same id when
    that change comes again and gives it to the same people. Enquiries are named by their
    number (a replay of a roster event makes no new enquiry, so numbers no other)."""
    to = [changes.get(c, "=") or "-" for c in ("owner_id", "supervisor_id")]
    name = ":".join(
        (EventName.ENQUIRY_HANDED_OVER, enquiry["enquiry_number"], roster_event_id, *to)
    )
    return uuid5_text(_NAMESPACE, name)


async def hand_back(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    enquiries: list[Row],
    staff_id: str,
    *,
    given_up: GivenUp,
    roster_event_id: str,
    correlation_id: str | None,
    now: datetime,
) -> list[tuple[Row, Row]]:
    """Hand back what `staff_id` gives up (`given_up`, `given_up_of`) of `enquiries`
    (`open_enquiries_of`, read again under the roster's lock), each saved, its history written
    and its event queued; each enquiry changed, before and after."""
    if not enquiries:
        return []
    workload = await roster.workload(
        conn,
        {
            d
            for q in enquiries
            for d in (answering_department(q), q["department_code"], policy.desk_department)
            if d
        },
    )
    notes = (given_up.handler, given_up.supervisor)
    handed: list[tuple[Row, Row]] = []
    for enquiry in enquiries:
        owner, supervisor = given_up_of(policy, enquiry, staff_id, given_up)
        if not (owner or supervisor):
            continue  # kept: without this, its supervisor would be chosen again all the same
        changes, lines = handback_changes(
            policy, workload, enquiry, owner=owner, supervisor=supervisor, notes=notes
        )
        if not changes:
            continue
        updated = await store.update(conn, "enquiries", enquiry["id"], changes)
        for action, detail in lines:
            await store.add_history(
                conn, enquiry["id"], at=now, actor_id=SYSTEM.id, actor_role=SYSTEM.role,
                action=action, detail=detail,
            )  # fmt: skip
        previous = enquiry["owner_id"] if "owner_id" in changes else None
        await publish(
            conn, EventName.ENQUIRY_HANDED_OVER,
            changed(updated, actor=SYSTEM, at=now, previous_owner=previous),
            subject=enquiry["enquiry_number"], at=now, correlation_id=correlation_id,
            event_id=handback_event_id(enquiry, roster_event_id, changes),
        )  # fmt: skip
        handed.append((enquiry, updated))
    return handed
