"""Use cases on an open complaint case: move it through the lifecycle, record the patient's
satisfaction, reassign it. Each runs inside the caller's transaction: state, audit entry and
outgoing event commit together."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from complaints import escalation, handback, publishing, roster
from complaints import repository as repo
from complaints.access import Actor, can_work, takes_supervisor_steps
from complaints.assignment import may_handle
from complaints.domain import (
    ASSIGNED_EVENT,
    TERMINAL,
    Category,
    NotPermitted,
    Satisfaction,
    Status,
    Validity,
    check_approver,
    check_four_eyes,
    check_transition,
)
from complaints.policy import (
    CasePolicy,
    LimitName,
    limits_met_by,
    owed_again,
    satisfaction_deadline,
)
from complaints.recording import record_change
from hospital_shared.service_events.complaints import ComplaintSatisfactionRecorded
from hospital_shared.vocabulary import EventName, LimitOutcome, SystemNote

Row = dict[str, Any]


class CaseNotFound(LookupError):
    pass


class CaseConflict(Exception):
    """The request does not fit the case's state (HTTP 409)."""


class StaleCase(CaseConflict):
    """The step was sent with a version of the case that is no longer its version: someone
    changed it since the sender read it (HTTP 409 naming its status and version now)."""

    def __init__(self, number: str, *, expected: int, case: Row) -> None:
        super().__init__(
            f"case {number} changed since version {expected}: it is now {case['status']},"
            f" version {case['version']}; reload it"
        )
        self.current_status = str(case["status"])
        self.current_version = int(case["version"])


async def locked_case(conn: asyncpg.Connection, number: str) -> Row:
    case = await repo.case_by_number(conn, number, for_update=True)
    if case is None:
        raise CaseNotFound(number)
    return case


def check_version(case: Row, expected_version: int | None) -> None:
    """With `expected_version` (the version the sender read), a step on the locked case is
    refused unless the case is still at that version, so it never applies to a state its
    sender did not see (an approval of a resolution since replaced, a close racing a reopen).
    Without it the step applies to the case as it is, as before. Checked after who may act:
    the case's status and version are told only to those who work it."""
    if expected_version is not None and case["version"] != expected_version:
        raise StaleCase(case["case_number"], expected=expected_version, case=case)


async def transition(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    number: str,
    *,
    to: str,
    actor: Actor,
    now: datetime,
    note: str | None = None,
    resolution: str | None = None,
    resolution_kind: str | None = None,
    expected_version: int | None = None,
    cause_id: str | None = None,
) -> Row:
    """Move the case one step along the transition table, or say why not. `cause_id`: the
    message read from Kafka the step answers (a survey answer's reopening), which its events'
    ids are made from (`publishing.caused_by_id`)."""
    case = await locked_case(conn, number)
    if actor.role != "system" and not can_work(actor, case):
        raise NotPermitted(f"{actor.id} does not work on case {number}")
    check_version(case, expected_version)
    current = Status(case["status"])
    step = check_transition(
        current,
        to,
        is_supervisor=takes_supervisor_steps(actor),
        has_resolution=bool(resolution and resolution_kind),
        has_note=bool(note),
    )
    if step.to == Status.RESOLUTION_APPROVED and actor.role != "system":
        check_approver(role=actor.role, escalated=case["director_id"] is not None)
        check_four_eyes(proposed_by=case["proposed_by"], approver=actor.id)
    changes = _step_changes(step, case, actor, note, now=now)
    if step.needs_resolution:
        changes |= {"resolution": resolution, "resolution_kind": resolution_kind}
    updated = await repo.update_case(conn, case["id"], changes)
    await _restart_clocks(conn, policy, case, updated, now)
    await repo.append_audit(
        conn,
        case["id"],
        at=now,
        actor_id=actor.id,
        actor_role=actor.role,
        action="transition",
        from_status=current.value,
        to_status=step.to.value,
        detail={"note": note, "resolution_kind": changes.get("resolution_kind")},
    )
    await publishing.publish_case_event(
        conn, step.event_type, updated, previous=current.value, actor_id=actor.id,
        actor_role=actor.role, at=now,
        event_id=publishing.caused_by_id(step.event_type, case, cause_id, case["cycle"]),
    )  # fmt: skip
    if step.to == Status.RESOLUTION_PROPOSED:
        return await _to_the_director(conn, policy, updated, actor=actor, now=now)
    if step.to == Status.REOPENED:  # its handler may have left since it closed
        return await handback.reopened(conn, policy, updated, now=now, cause_id=cause_id)
    return updated


def _step_changes(step: Any, case: Row, actor: Actor, note: str | None, *, now: datetime) -> Row:
    """The columns a step changes besides the resolution: the status, the procedure's
    records, the end (closed, withdrawn) or the new cycle of a reopened case."""
    changes: Row = {"status": step.to.value, **_procedure_changes(step.to, case, actor, note)}
    if step.to == Status.CLOSED:
        changes |= {"closed_at": now, "finished_at": now}
    if step.to == Status.WITHDRAWN:
        changes |= {"finished_at": now}
    if step.to == Status.REOPENED:
        changes |= {"cycle": case["cycle"] + 1, "closed_at": None, "finished_at": None}
        changes |= {"satisfaction": None, "satisfaction_at": None}
        # The new cycle settles and is summed up anew; the earlier cycle's settlement and
        # summary stay in the audit trail (settlement_recorded, summary_signed_off lines).
        changes |= {"settlement_amount": None, "settlement_signed_on": None,
                    "settlement_document_ref": None, "summary": None, "signed_off_by": None}  # fmt: skip
    return changes


async def _to_the_director(
    conn: asyncpg.Connection, policy: CasePolicy, case: Row, *, actor: Actor, now: datetime
) -> Row:
    """A proposal of a case the director decides: escalate it now if opening did not (no
    director was on the roster then), else start the director's clock on the proposal."""
    if escalation.for_the_director(policy, case):
        return await escalation.escalate(
            conn, policy, case, actor=actor, now=now, reason=escalation.AUTOMATIC_REASON
        )
    if case["director_id"] is not None:
        await escalation.start_director_clock(conn, policy, case, now)
    return case


def _procedure_changes(to: Status, case: Row, actor: Actor, note: str | None) -> Row:
    """What a step records besides the status: who proposed (four eyes), the validity
    decision, the supervisor's summary (总结批示)."""
    if to == Status.RESOLUTION_PROPOSED:
        # Proposing a resolution holds the complaint founded, unless decided already.
        return {"proposed_by": actor.id, "validity": case["validity"] or Validity.FOUNDED.value}
    if to == Status.UNFOUNDED:
        return {"validity": Validity.UNFOUNDED.value, "validity_reason": note}
    if to == Status.SUMMARY_SIGNED_OFF:
        return {"summary": note, "signed_off_by": actor.id}
    return {}


async def _restart_clocks(
    conn: asyncpg.Connection, policy: CasePolicy, before: Row, after: Row, now: datetime
) -> None:
    """Stop the clocks the new status meets; plan the satisfaction check on closing; start a
    new cycle of limits on reopening."""
    status = Status(after["status"])
    if status == Status.WITHDRAWN:
        await repo.settle_deadlines(conn, after["id"], at=now, outcome=LimitOutcome.WITHDRAWN)
        return
    if status == Status.REOPENED:
        await repo.settle_deadlines(conn, after["id"], at=now, outcome=LimitOutcome.SUPERSEDED)
        fresh = policy.opening_deadlines(
            now, complex_=after["complex"], category=Category(after["category"])
        )
        owed = owed_again(fresh, imaging_confirmed=after["imaging_confirmed_at"] is not None)
        await repo.insert_deadlines(conn, after["id"], after["cycle"], owed)
        return
    met = [m.value for m in limits_met_by(policy.limit_rules, status)]
    if met:
        await repo.settle_deadlines(conn, after["id"], at=now, limits=met)
    if status == Status.CLOSED:
        check = satisfaction_deadline(
            policy.limit_rules,
            closed_at=now,
            tz=policy.tz,
            calendar=policy.calendar(),
            warning_fraction=policy.warning_fraction,
        )
        if check is not None:
            await repo.insert_deadlines(conn, after["id"], after["cycle"], [check])


async def record_satisfaction(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    number: str,
    *,
    rating: Satisfaction,
    actor: Actor,
    now: datetime,
    comment: str | None = None,
    expected_version: int | None = None,
    answer_id: str | None = None,
) -> Row:
    """The patient's answer to the satisfaction check; 不满意 reopens the case. `answer_id`: the
    survey answer's event id, when it came by link: the events' ids are made from it (and the
    case), so the same answer read again after a restore announces nothing twice."""
    case = await locked_case(conn, number)
    if actor.role != "system" and not can_work(actor, case):
        raise NotPermitted(f"{actor.id} does not work on case {number}")
    check_version(case, expected_version)
    if case["status"] != Status.CLOSED.value or case["satisfaction"] is not None:
        raise CaseConflict(
            f"case {number} is {case['status']}; satisfaction is recorded once, after closing"
        )
    await repo.settle_deadlines(
        conn, case["id"], at=now, limits=[LimitName.SATISFACTION_CHECK.value]
    )
    deadlines = await repo.deadlines_of(conn, case["id"], case["cycle"])
    check = next((d for d in deadlines if d["limit_name"] == LimitName.SATISFACTION_CHECK), None)
    updated = await repo.update_case(
        conn, case["id"], {"satisfaction": rating.value, "satisfaction_at": now}
    )
    dissatisfied = rating == Satisfaction.DISSATISFIED
    await repo.append_audit(
        conn,
        case["id"],
        at=now,
        actor_id=actor.id,
        actor_role=actor.role,
        action="satisfaction_recorded",
        from_status=case["status"],
        to_status=case["status"],
        detail={"rating": rating.value, "comment": comment},
    )
    recorded = _satisfaction_recorded(case, rating, check, now=now)
    event_type = EventName.CASE_SATISFACTION_RECORDED
    once = publishing.caused_by_id(event_type, case, answer_id, case["cycle"])
    await publishing.publish(conn, event_type, recorded, case=case, at=now, event_id=once)
    if dissatisfied:
        return await transition(
            conn, policy, number, to=Status.REOPENED.value, actor=actor, now=now,
            note=SystemNote.DISSATISFIED_AT_CHECK.value, cause_id=answer_id,
        )  # fmt: skip
    return updated


def _satisfaction_recorded(
    case: Row, rating: Satisfaction, check: Row | None, *, now: datetime
) -> ComplaintSatisfactionRecorded:
    """The event of an answered satisfaction check: on time when answered within its limit."""
    dissatisfied = rating == Satisfaction.DISSATISFIED
    return ComplaintSatisfactionRecorded(
        case_number=case["case_number"],
        cycle=case["cycle"],
        rating=rating.value,
        satisfied=not dissatisfied,
        channel=case["channel"],
        category=case["category"],
        department_code=case["department_code"],
        reopened=dissatisfied,
        on_time=check is None or check["outcome"] == LimitOutcome.MET,
        occurred_at=now,
    )


async def reassign(
    conn: asyncpg.Connection,
    number: str,
    *,
    assignee_id: str,
    actor: Actor,
    now: datetime,
    expected_version: int | None = None,
) -> Row:
    # The member's row locked shared, before the case: a deactivation of the member under way
    # finishes first (and this refuses), one after it waits and hands this case back with their
    # others (handback.py). A deactivation locks the member's row, then their cases: locking
    # the case first deadlocked with it when the case was theirs (one they supervise, taken).
    member = await roster.staff_member(conn, assignee_id, for_share=True)
    case = await locked_case(conn, number)
    if actor.role != "supervisor" or not can_work(actor, case):
        raise NotPermitted("only a supervisor of the case's department may reassign it")
    check_version(case, expected_version)
    if Status(case["status"]) in TERMINAL:
        raise CaseConflict(f"case {number} is {case['status']}")
    if member is None or not member["active"]:
        raise CaseConflict(f"{assignee_id} is not an active member of the roster")
    if not may_handle(member["role"]):
        raise CaseConflict(
            f"{assignee_id} is {member['role']}: only an agent, a doctor or a supervisor"
            " handles a case"
        )
    if case["assignee_id"] == assignee_id:  # theirs already: nothing to record nor announce
        return case
    return await record_change(
        conn,
        case,
        {"assignee_id": assignee_id, "handling_department": member["department_code"]},
        action="assigned",
        event_type=ASSIGNED_EVENT,
        detail={"from": case["assignee_id"], "to": assignee_id},
        actor=actor,
        now=now,
    )
