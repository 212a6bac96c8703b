"""Subscribers of the follow-up service: validate -> plan (pure) -> save -> outbox.

They run inside the reliable consumer's transaction together with the inbox rows, so a
redelivered event has its effect once. A batch is written in bulk (see `handle_batch`).
Business-level "no" (not sampled, opted out, a deceased patient) is an outcome, never an
exception.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from prometheus_client import Counter

from followup import departments, outgoing, repository
from followup.deaths import on_deaths
from followup.domain import withdrawal_reason
from followup.planning import (
    NotPlanned,
    PlannedCall,
    inpatient_task_id,
    outpatient_task_id,
    plan_discharge,
    plan_visit,
)
from followup.policy import PolicyBook
from followup.repository import Withdrawal
from followup.transfers import on_transfers
from hospital_shared import topics
from hospital_shared.codec import encode
from hospital_shared.events import CloudEvent
from hospital_shared.outbox import add_encoded_to_outbox, add_many_to_outbox

PLANNING = Counter(
    "followup_planning_decisions_total",
    "Discharges and visits seen, by the rule that decided whether a call is planned",
    ["rule"],
)


@dataclass(frozen=True)
class _ToPlan:
    call: PlannedCall
    source_time: datetime
    event: CloudEvent[Any]


Operation = _ToPlan | Withdrawal
# The events whose department is named as the hospital's systems name it (`Department`).
_NAMING = frozenset({"patient.discharged", "registration.created"})
Outgoing = tuple[CloudEvent[Any], str, str]  # (event, topic, key) for the outbox


class EventHandlers:
    """The consumer side of the service, bound to the policy and the hospital's time zone."""

    def __init__(
        self, book: PolicyBook, tz: ZoneInfo, *, seeded_departments: Iterable[str] = ()
    ) -> None:
        self.book = book
        self.tz = tz
        self.departments = departments.Learner(known=seeded_departments)

    async def handle(self, conn: asyncpg.Connection, event: CloudEvent[Any]) -> None:
        await self.handle_batch(conn, [event])

    async def handle_batch(
        self, conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]]
    ) -> None:
        # Operations on different tasks commute, so a batch is written in rounds: round k
        # holds each task's k-th operation (almost always there is one round), every round in
        # two bulk statements, plans first. One task's operations keep their order.
        # Transfers (ADT^A02) go last: a discharge and a later transfer of the same admission
        # can share a batch (one consumer reads both topics), and the transfer must find the
        # call the discharge plans. A transfer before the discharge moves nothing either way:
        # the call is planned in the department the discharge names (transfers.py).
        # Deaths go after the plans too: a call the batch planned of a contact before a death
        # (reported in this batch or before) is withdrawn with the patient's others (deaths.py).
        rounds: list[list[Operation]] = []
        seen: dict[str, int] = {}
        decisions: Tally[str] = Tally()  # PLANNING's increments, one labels() a rule a batch
        for event in events:
            op = self.operation(event, decisions)
            if op is None:
                continue
            task_id = op.call.task_id if isinstance(op, _ToPlan) else op.task_id
            k = seen.get(task_id, 0)
            seen[task_id] = k + 1
            if k == len(rounds):
                rounds.append([])
            rounds[k].append(op)
        await self.departments.learn(conn, _departments_named(events))
        try:
            for ops in rounds:
                out = await self._plan(conn, [o for o in ops if isinstance(o, _ToPlan)], decisions)
                withdrawals = [o for o in ops if isinstance(o, Withdrawal)]
                out += [_encoded(e) for e in await self._withdraw(conn, withdrawals)]
                await add_encoded_to_outbox(conn, out)
            planned_for = {
                o.call.patient_id for ops in rounds for o in ops if isinstance(o, _ToPlan)
            }
            await on_deaths(conn, events, planned_for)
            transfers = [e for e in events if e.type == "patient.transferred"]
            if transfers:
                await add_many_to_outbox(conn, await on_transfers(conn, transfers))
        finally:
            for rule, n in decisions.items():
                PLANNING.labels(rule).inc(n)

    def operation(self, event: CloudEvent[Any], decisions: Tally[str]) -> Operation | None:
        """What `event` asks of the register (None: nothing, e.g. a visit not sampled); each
        visit's or discharge's planning rule is tallied in `decisions` (PLANNING, counted
        once a batch: a `labels()` look-up per event was 3% of a drain's samples)."""
        data = event.data
        match event.type:
            case "patient.discharged":
                plan = plan_discharge(self.book, self.tz, event_id=event.id, discharge=data)
                return self._planned(plan, data.discharged_at, event, decisions)
            case "registration.created":
                plan = plan_visit(self.book, self.tz, event_id=event.id, registration=data)
                return self._planned(plan, data.registered_at, event, decisions)
            case "registration.cancelled":
                return Withdrawal(
                    outpatient_task_id(data.registration_id),
                    withdrawal_reason(event.type), event.id, data.cancelled_at,
                )  # fmt: skip
            case "registration.no_show":
                task_id = outpatient_task_id(data.registration_id)
                return Withdrawal(task_id, withdrawal_reason(event.type), event.id, event.time)
            case "discharge.cancelled":
                task_id = inpatient_task_id(data.admission_id)
                return Withdrawal(task_id, withdrawal_reason(event.type), event.id, event.time)
        return None

    @staticmethod
    def _planned(
        plan: PlannedCall | NotPlanned, source_time: datetime, event: CloudEvent[Any],
        decisions: Tally[str],
    ) -> _ToPlan | None:  # fmt: skip
        if isinstance(plan, NotPlanned):
            decisions[plan.rule] += 1
            return None
        return _ToPlan(plan, source_time, event)

    async def _plan(
        self, conn: asyncpg.Connection, plans: list[_ToPlan], decisions: Tally[str]
    ) -> list[outgoing.OutboxRow]:
        """Insert the batch's planned tasks; the outbox rows of those that were new, their
        `followup.task_planned` encoded in one pass (`outgoing.planned_row`)."""
        planned = await repository.insert_planned_many(
            conn, [(p.call, p.source_time) for p in plans]
        )
        out: list[outgoing.OutboxRow] = []
        for p in plans:
            if p.call.task_id not in planned:
                decisions["already_planned_withdrawn_or_opted_out"] += 1
                continue
            decisions[p.call.rule] += 1
            correlation = p.event.correlationid or p.event.id
            out.append(outgoing.planned_row(p.call, time=p.event.time, correlation_id=correlation))
        return out

    async def _withdraw(
        self, conn: asyncpg.Connection, withdrawals: list[Withdrawal]
    ) -> list[Outgoing]:
        out: list[Outgoing] = []
        for row in await repository.withdraw_many(conn, withdrawals):
            event = outgoing.withdrawn_event(
                row, reason=row["reason"], event_id=row["event_id"], time=row["at"]
            )
            out.append((event, topics.FOLLOWUP_TASKS, row["patient_id"]))
        return out


def _encoded(entry: Outgoing) -> outgoing.OutboxRow:
    event, topic, key = entry
    return event.id, topic, key, encode(event)


def _departments_named(events: Sequence[CloudEvent[Any]]) -> dict[str, str]:
    """The departments (code -> name) the batch's visits and discharges name."""
    named: dict[str, str] = {}
    for event in events:
        if event.type in _NAMING:
            department = event.data.department
            named.setdefault(department.code, department.name)
    return named
