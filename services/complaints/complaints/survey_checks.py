"""The satisfaction check after closing (满意度回访), answered by the patient on the survey page
of an SMS link (`survey.answered` with `contact_kind` complaint_check, from notifications):
recorded as the check by phone is (`cases.record_satisfaction`); 不满意 reopens the case.

The answer counts for the cycle it was sent for: a case reopened since then (or whose check
was already taken by phone) keeps what it has, and the answer changes nothing here.

The events an answer causes (the check recorded, the reopening, a hand-over on reopening) have
ids made from the case and the answer's event id: read again after a restore (the database
lost it, Kafka did not), the same answer announces them under the same ids, and the next
consumer's inbox drops them as seen.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import structlog
from prometheus_client import Counter

from complaints import cases
from complaints.access import SYSTEM
from complaints.domain import Satisfaction
from complaints.policy import CasePolicy
from hospital_shared.events import CloudEvent
from hospital_shared.vocabulary import Aspect, CaseStatus, ContactKind, EventName

log = structlog.get_logger(__name__)
CHECKS = Counter(
    "complaints_survey_checks_total",
    "Complaint satisfaction checks answered by SMS link, by what they did",
    ["effect"],
)


def check_rating(data: Any) -> tuple[Satisfaction, str | None] | None:
    """The check's rating (the complaint-handling answer) and the patient's comment."""
    handling = [a for a in data.answers if a.aspect == Aspect.COMPLAINT_HANDLING]
    rated = next((a.satisfaction for a in handling if a.satisfaction is not None), None)
    if rated is None:
        return None
    comment = next((a.text for a in handling if a.text), None)
    return rated, comment


class SurveyChecks:
    def __init__(self, policy: CasePolicy, clock: Any) -> None:
        self.policy = policy
        self.clock = clock

    async def handle(self, conn: asyncpg.Connection, event: CloudEvent[Any]) -> None:
        data = event.data
        if (
            event.type != EventName.SURVEY_ANSWERED
            or data.contact_kind != ContactKind.COMPLAINT_CHECK
        ):
            return
        number = data.contact_ref.removeprefix("case:")
        answer = check_rating(data)
        case = await conn.fetchrow(
            "SELECT cycle, status, satisfaction FROM cases WHERE case_number = $1", number
        )
        if answer is None or case is None or case["cycle"] != data.case_cycle:
            CHECKS.labels("not_this_cycle" if case is not None else "no_case").inc()
            return
        if case["status"] != CaseStatus.CLOSED or case["satisfaction"] is not None:
            CHECKS.labels("already_checked").inc()
            return
        rating, comment = answer
        now: datetime = self.clock()
        await cases.record_satisfaction(
            conn, self.policy, number, rating=rating, actor=SYSTEM, now=now, comment=comment,
            answer_id=event.id,
        )  # fmt: skip
        CHECKS.labels(rating.value).inc()
