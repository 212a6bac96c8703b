"""Subscribers of the complaints service: validate -> open the case -> save -> outbox.

`hospital.complaints.v1` carries `complaint.submitted` from hospital systems and, with
channel `followup`, the objections the follow-up service raises during calls; and
`feedback.submitted`, praise and suggestions, recorded as `POST /v1/feedback` records them.
`staff.roster.v1` keeps the local roster up to date when the follow-up service publishes
`staff.member_saved`; until it does, the seeded roster is what cases are assigned from. A
member made inactive hands back their open cases and enquiries, one given another role what it
may not hold, one moved to another department what they held for the old one (`handback.py`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from complaints import feedback_cases, handback, roster
from complaints.access import Actor
from complaints.batch_intake import Submission, open_cases
from complaints.feedback_cases import FeedbackPolicy, NewFeedback, contact_of
from complaints.handback_rules import given_up_by
from complaints.intake import AllocateMany, NewComplaint, new_complaint
from complaints.policy import CasePolicy
from complaints.rulebook import RuleBook
from hospital_shared.events import CloudEvent, ComplaintSubmitted, FeedbackSubmitted
from hospital_shared.service_events.followup import StaffMemberSaved
from hospital_shared.vocabulary import EventName

log = structlog.get_logger(__name__)

Handler = Callable[[asyncpg.Connection, CloudEvent[Any]], Awaitable[None]]
ROSTER_EVENT = EventName.STAFF_MEMBER_SAVED
FEEDBACK_EVENT = "feedback.submitted"


def complaint_from_event(event: CloudEvent[Any]) -> NewComplaint:
    data: ComplaintSubmitted = event.data
    return new_complaint(
        patient=data.patient,
        department=data.department,
        channel=data.channel.value,
        external_id=data.external_id,
        description=data.description,
        submitted_at=data.submitted_at,
        category=data.category,
        source_event_id=event.id,
        correlation_id=event.correlationid or event.id,
    )


def feedback_from_event(event: CloudEvent[Any]) -> NewFeedback:
    """A `feedback.submitted` event as the same praise or suggestion `POST /v1/feedback`
    records (the member of staff praised and the patient included)."""
    data: FeedbackSubmitted = event.data
    return NewFeedback(
        kind=data.kind,
        channel=data.channel.value,
        text=data.text,
        received_at=data.submitted_at,
        category=data.category,
        department_code=data.department.code if data.department else None,
        staff_id=data.staff_id,
        **contact_of(data.patient),
        external_id=data.external_id,
    )


class ComplaintHandlers:
    """The `hospital.complaints.v1` consumer: a batch of `complaint.submitted` events opens
    its cases in bulk (`batch_intake.open_cases`); other event types are not ours."""

    # A batch this large means a backlog is being worked through (see `draining`).
    BACKLOG_BATCH = 200

    def __init__(
        self,
        policy: CasePolicy,
        rulebook: RuleBook,
        *,
        allocate_many: AllocateMany,
        clock: Callable[[], datetime],
        feedback: FeedbackPolicy | None = None,
    ) -> None:
        self.policy = policy
        self.feedback = feedback
        self.rulebook = rulebook
        self.allocate_many = allocate_many
        self.clock = clock
        self._backlog_seen_at = -math.inf

    def draining(self, *, within_s: float = 1.0) -> bool:
        """Whether a backlog of complaints was being opened within the last `within_s`."""
        return time.monotonic() - self._backlog_seen_at < within_s

    async def handle(self, conn: asyncpg.Connection, event: CloudEvent[Any]) -> None:
        await self.handle_batch(conn, [event])

    async def handle_batch(
        self, conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]]
    ) -> None:
        if len(events) >= self.BACKLOG_BATCH:
            self._backlog_seen_at = time.monotonic()
        await self.record_feedback(conn, [e for e in events if e.type == FEEDBACK_EVENT])
        submissions = [
            Submission(complaint_from_event(e), Actor(f"system:{e.source}", "integration"))
            for e in events
            if e.type == "complaint.submitted"
        ]
        if not submissions:
            return
        outcomes = await open_cases(
            conn,
            self.policy,
            await self.rulebook.rules(conn),
            submissions,
            allocate_many=self.allocate_many,
            now=self.clock(),
        )
        for outcome in outcomes:
            if not outcome.created:
                log.info(
                    "complaint already has a case",
                    case_number=outcome.case_number,
                    channel=outcome.submission.complaint.channel,
                )

    async def record_feedback(
        self, conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]]
    ) -> None:
        """Praise and suggestions of the batch, each by the same use case as the REST route
        (idempotent by external id; praise tells the department's supervisor)."""
        if events and self.feedback is None:
            raise RuntimeError("feedback.submitted consumed without a feedback policy")
        for e in events:
            assert self.feedback is not None
            await feedback_cases.record(
                conn,
                self.feedback,
                feedback_from_event(e),
                actor=Actor(f"system:{e.source}", "integration"),
                now=self.clock(),
            )


def roster_entry(member: StaffMemberSaved) -> tuple[str, str, str, bool]:
    """(staff id, department code, role, active) of a roster change. The follow-up service's
    contract, validated when the event was decoded (one without a staff id, department or
    role is dead-lettered there), so it is read as typed, not guessed at."""
    return member.staff_id, member.department_code, member.role.value, member.active


class RosterHandlers:
    """The `staff.roster.v1` consumer: a member saved is saved here; one made inactive hands
    back their open cases and enquiries in the same transaction (`handback`), one given a
    role that may not hold some of them (an agent made operations, a supervisor made an agent)
    hands back those, and one moved to another department what they held for the old one."""

    def __init__(self, policy: CasePolicy, *, clock: Callable[[], datetime]) -> None:
        self.policy = policy
        self.clock = clock

    async def handle(self, conn: asyncpg.Connection, event: CloudEvent[Any]) -> None:
        if event.type != ROSTER_EVENT:
            return
        staff_id, department, role, active = roster_entry(event.data)
        change = await roster.upsert_staff(
            conn, staff_id, department_code=department, role=role, active=active, source="roster"
        )
        for given_up in given_up_by(change, active=active):
            await handback.hand_back_open_cases(
                conn, self.policy, staff_id, roster_event_id=event.id,
                correlation_id=event.correlationid or event.id, now=self.clock(),
                given_up=given_up,
            )  # fmt: skip


def utc_now() -> datetime:
    return datetime.now(UTC)
