"""Use cases staff drive through the API: record a call outcome, reassign a task. Each runs
in one transaction: load and lock the task, decide (pure), save, publish through the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from followup import call_opt_outs, outgoing, repository, roster
from followup.access import can_record_outcome, can_see
from followup.domain import (
    CallOutcome,
    Completed,
    Decision,
    OptedOut,
    RetryPlanned,
    Task,
    TaskRejected,
    Unreachable,
    check_reassignable,
    decide_outcome,
)
from followup.next_calls import NextCallPlan, NextCallRequest, plan_next_calls
from followup.policy import PolicyBook, WorkingHours
from hospital_shared.auth import Principal
from hospital_shared.vocabulary import TaskKind, TaskStatus


class NotFound(LookupError):
    pass


class Forbidden(PermissionError):
    pass


async def record_outcome(
    conn: asyncpg.Connection,
    *,
    task_id: str,
    outcome: CallOutcome,
    principal: Principal,
    book: PolicyBook,
    tz: ZoneInfo,
    now: datetime,
    next_calls: Sequence[NextCallRequest] = (),
    attempt: int | None = None,
    generation: int | None = None,
) -> tuple[Decision, NextCallPlan]:
    """Record one call's outcome; a call that reached the patient may plan later calls
    (`next_calls`, see `followup.next_calls`), in the same transaction. `attempt` (the one the
    caller records) refuses the same outcome sent twice: the task's row is locked, so the
    second sees the first's attempt counted (`AttemptNotNext`). `generation` (the life the
    caller saw) refuses a screen read before the task was withdrawn and planned again
    (`LifeNotCurrent`), whose attempt number the new life may well expect next."""
    await refuse_if_made_inactive(conn, principal, "they record no call outcomes")
    if outcome.opt_out:  # the lock order of several calls (call_opt_outs.LOCK_ORDER)
        await call_opt_outs.lock_calls_of_patient_of(conn, task_id)
    row = await repository.fetch_task(conn, task_id, for_update=True)
    if row is None or not can_see(
        principal, assignee_id=row["assignee_id"], department_code=row["department_code"]
    ):
        raise NotFound(task_id)
    if not can_record_outcome(
        principal, assignee_id=row["assignee_id"], department_code=row["department_code"]
    ):
        raise Forbidden("only the assignee or a supervisor of the department records outcomes")
    task = repository.task_from_row(row)
    if task.kind == TaskKind.SECOND_CALL and outcome.objection_raised:
        task = replace(task, follows_objection=await repository.follows_objection(conn, task))
    policy = book.for_department(task.department_code)
    hours = WorkingHours.of(policy, tz)
    decision = decide_outcome(
        task, outcome, policy=policy, hours=hours, now=now, attempt=attempt, generation=generation
    )
    plan = plan_next_calls(
        task, next_calls, roles=tuple(row["roles"]), reached=outcome.reached,
        opt_out=outcome.opt_out, policy=policy, hours=hours, now=now,
    )  # fmt: skip
    by = principal.staff_id or principal.role.value
    await repository.record_attempt(
        conn, task, attempt_no=decision.attempts_made, staff_id=by, outcome=outcome
    )
    await _carry_out(conn, decision, plan, task=task, outcome=outcome, by=by, now=now)
    if outcome.opt_out:
        await call_opt_outs.record(conn, task, attempt=decision.attempts_made, by=by, now=now)
    return decision, plan


async def _carry_out(
    conn: asyncpg.Connection,
    decision: Decision,
    plan: NextCallPlan,
    *,
    task: Task,
    outcome: CallOutcome,
    by: str,
    now: datetime,
) -> None:
    """Store what the outcome decided (a retry, the end of trying, an opt-out's end, or
    completion with the calls it derives) and announce it."""
    match decision:
        case RetryPlanned(attempts_made=n, not_before=not_before, due_at=due_at):
            await repository.schedule_retry(
                conn, task.task_id, attempts=n, not_before=not_before, due_at=due_at
            )
            await outgoing.retry_scheduled(
                conn, task, attempts=n, not_before=not_before, due_at=due_at, time=now, by=by
            )
        case OptedOut(attempts_made=n):  # withdrawn by the opt-out, recorded next
            await repository.count_attempts(conn, task.task_id, attempts=n)
        case Unreachable(attempts_made=n):
            await repository.close_unreachable(conn, task.task_id, attempts=n)
            await outgoing.task_unreachable(conn, task, attempts=n, time=now, by=by)
        case Completed(attempts_made=n, second_call=second, spot_check=spot, complaint=complaint):
            await repository.close_completed(conn, task.task_id, attempts=n, by=by, outcome=outcome)
            for derived in (second, spot):
                if derived is not None and await repository.insert_planned(
                    conn, derived, source_time=now
                ):
                    await outgoing.task_planned(
                        conn, derived, time=now, correlation_id=task.source_event_id
                    )
            await _plan_next_calls(conn, plan, task=task, now=now)
            await outgoing.task_completed(
                conn, task, outcome, attempts=n, by=by, time=now,
                second_call_task_id=second.task_id if second else None,
                spot_check_task_id=spot.task_id if spot else None,
            )  # fmt: skip
            if complaint:
                await outgoing.objection_as_complaint(conn, task, outcome, time=now)


async def _plan_next_calls(
    conn: asyncpg.Connection, plan: NextCallPlan, *, task: Task, now: datetime
) -> None:
    """Create the planned calls' tasks (each once: the id is the parent's and the day) and
    announce each as any planned task is."""
    for next_call in plan.calls:
        if await repository.insert_planned(conn, next_call.call, source_time=now):
            await repository.save_call_plan(conn, next_call)
            await outgoing.task_planned(
                conn, next_call.call, time=now, correlation_id=task.source_event_id
            )


async def reassign(
    conn: asyncpg.Connection,
    *,
    task_id: str,
    staff_id: str,
    principal: Principal,
    now: datetime,
) -> asyncpg.Record:
    """Give the task to `staff_id` (a supervisor's move); the task as it is then."""
    await refuse_if_made_inactive(conn, principal, "they assign no calls")
    row = await repository.fetch_task(conn, task_id, for_update=True)
    if row is None or not can_see(
        principal, assignee_id=row["assignee_id"], department_code=row["department_code"]
    ):
        raise NotFound(task_id)
    member = await roster.get_member(conn, staff_id)
    if member is None or not member["active"]:
        raise TaskRejected(f"staff member {staff_id} is not on the active roster", conflict=False)
    task = repository.task_from_row(row)
    check_reassignable(task, to_role=member["role"], roles=tuple(row["roles"]))
    if row["assignee_id"] == staff_id:
        return row
    await repository.reassign(conn, task_id, staff_id)
    await outgoing.task_assigned(
        conn, row, assignee_id=staff_id, time=now, assigned_by=principal.staff_id
    )
    moved = await repository.fetch_task(conn, task_id)
    assert moved is not None
    return moved


async def refuse_if_made_inactive(
    conn: asyncpg.Connection, principal: Principal, refused: str
) -> None:
    """A member made inactive changes no call, whatever their role grants (a supervisor's
    department-wide powers too): their console session may outlive the deactivation. The
    roster row is read, and locked, before any call, in the order a deactivation locks them."""
    if principal.staff_id is not None and await roster.made_inactive(conn, principal.staff_id):
        raise Forbidden(f"{principal.staff_id} is inactive on the roster: {refused}")


async def take(
    conn: asyncpg.Connection, *, task_id: str, principal: Principal, now: datetime
) -> asyncpg.Record:
    """Assign an unassigned call to the staff member who takes it: one of its department,
    with a role that may make it. A call someone has meanwhile (the assignment job, or a
    colleague a moment earlier) is a conflict naming who. A member made inactive takes
    nothing (their console session may still be open): the roster row is read, and locked,
    before the task, in the order a deactivation locks them."""
    await refuse_if_made_inactive(conn, principal, "they take no calls")
    row = await repository.fetch_task(conn, task_id, for_update=True)
    if row is None or row["department_code"] != principal.department:
        raise NotFound(task_id)
    if row["assignee_id"] is not None:
        raise TaskRejected(f"task {task_id} is already assigned to {row['assignee_id']}")
    if row["status"] != TaskStatus.PLANNED:
        raise TaskRejected(f"task {task_id} is {row['status']}")
    if principal.staff_id is None or principal.role.value not in row["roles"]:
        raise TaskRejected(
            f"a {principal.role.value} may not make a {row['kind']} call", conflict=False
        )
    await repository.reassign(conn, task_id, principal.staff_id)
    await outgoing.task_assigned(
        conn, row, assignee_id=principal.staff_id, time=now, assigned_by=principal.staff_id
    )
    taken = await repository.fetch_task(conn, task_id)
    assert taken is not None
    return taken
