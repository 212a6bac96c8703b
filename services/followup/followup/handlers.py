"""Subscribers of the follow-up service: validate -> plan (pure) -> save -> outbox.

They run inside the reliable consumer's transaction together with the inbox rows, so a
redelivered event has its effect once. A batch is written in bulk (see `handle_batch`).
Business-level "no" (not sampled, opted out, a deceased patient) is an outcome, never an
exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from prometheus_client import Counter

from followup import outgoing, repository
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
from hospital_shared.events import CloudEvent
from hospital_shared.outbox import add_many_to_outbox

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
Outgoing = tuple[CloudEvent[Any], str, str]  # (event, topic, key) for the outbox


class EventHandlers:
    """The consumer side of the service, bound to the policy and the hospital's time zone."""

    def __init__(self, book: PolicyBook, tz: ZoneInfo) -> None:
        self.book = book
        self.tz = tz

    async def handle(self, conn: asyncpg.Connection, event: CloudEvent[Any]) -> None:
        await self.handle_batch(conn, [event])

    async def handle_batch(
        self, conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]]
    ) -> None:
        # Operations on different tasks commute, so a batch is written in rounds: round k
        # holds each task's k-th operation (almost always there is one round), every round in
        # two bulk statements, plans first. One task's operations keep their order.
        transfers = [e for e in events if e.type == "patient.transferred"]
        if transfers:
            await add_many_to_outbox(conn, await on_transfers(conn, transfers))
        rounds: list[list[Operation]] = []
        seen: dict[str, int] = {}
        for event in events:
            op = self.operation(event)
            if op is None:
                continue
            task_id = op.call.task_id if isinstance(op, _ToPlan) else op.task_id
            k = seen.get(task_id, 0)
            seen[task_id] = k + 1
            if k == len(rounds):
                rounds.append([])
            rounds[k].append(op)
        for ops in rounds:
            out = await self._plan(conn, [op for op in ops if isinstance(op, _ToPlan)])
            out += await self._withdraw(conn, [op for op in ops if isinstance(op, Withdrawal)])
            await add_many_to_outbox(conn, out)

    def operation(self, event: CloudEvent[Any]) -> Operation | None:
        """What `event` asks of the register (None: nothing, e.g. a visit not sampled)."""
        data = event.data
        match event.type:
            case "patient.discharged":
                plan = plan_discharge(self.book, self.tz, event_id=event.id, discharge=data)
                return self._planned(plan, data.discharged_at, event)
            case "registration.created":
                plan = plan_visit(self.book, self.tz, event_id=event.id, registration=data)
                return self._planned(plan, data.registered_at, event)
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
        plan: PlannedCall | NotPlanned, source_time: datetime, event: CloudEvent[Any]
    ) -> _ToPlan | None:
        if isinstance(plan, NotPlanned):
            PLANNING.labels(plan.rule).inc()
            return None
        return _ToPlan(plan, source_time, event)

    async def _plan(self, conn: asyncpg.Connection, plans: list[_ToPlan]) -> list[Outgoing]:
        planned = await repository.insert_planned_many(
            conn, [(p.call, p.source_time) for p in plans]
        )
        out: list[Outgoing] = []
        for p in plans:
            if p.call.task_id not in planned:
                PLANNING.labels("already_planned_withdrawn_or_opted_out").inc()
                continue
            PLANNING.labels(p.call.rule).inc()
            correlation = p.event.correlationid or p.event.id
            event = outgoing.planned_event(p.call, time=p.event.time, correlation_id=correlation)
            out.append((event, topics.FOLLOWUP_TASKS, p.call.patient_id))
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
