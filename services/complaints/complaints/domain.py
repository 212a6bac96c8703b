"""The complaint case's lifecycle as a transition table, and the pure rules around it.

No I/O here: the table says which step may follow which, who may take it and which event it
publishes; `check_transition` applies it and says what is allowed instead when it refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Status(StrEnum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    RESOLUTION_PROPOSED = "resolution_proposed"
    RESOLUTION_APPROVED = "resolution_approved"
    COMMUNICATED = "communicated"
    CLOSED = "closed"
    REOPENED = "reopened"
    WITHDRAWN = "withdrawn"


class Category(StrEnum):
    STAFF_ATTITUDE = "staff_attitude"
    WAITING_TIME = "waiting_time"
    BILLING = "billing"
    REPORT_ERROR = "report_error"
    MEDICAL_QUALITY = "medical_quality"
    ENVIRONMENT = "environment"
    IMAGING_DISPUTE = "imaging_dispute"
    OTHER = "other"


class Priority(StrEnum):
    URGENT = "urgent"  # serious: a supervisor handles it at once
    HIGH = "high"  # complex or time-critical (imaging disputes)
    NORMAL = "normal"


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"  # 满意
    FAIRLY_SATISFIED = "fairly_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


@dataclass(frozen=True, slots=True)
class Step:
    """One row of the transition table."""

    to: Status
    event_type: str
    supervisor_only: bool = False
    needs_resolution: bool = False


_S = Status
# Withdrawing ends the case for good (the patient dropped it, or it was lodged in error): a
# supervisor decides that, never the handler alone, like approving a resolution.
WITHDRAW = Step(Status.WITHDRAWN, "complaint.case_withdrawn", supervisor_only=True)
# The lifecycle. Anything not in this table is refused with 409 and the allowed next steps.
TRANSITIONS: dict[Status, tuple[Step, ...]] = {
    _S.RECEIVED: (
        Step(_S.ACKNOWLEDGED, "complaint.case_acknowledged"),
        WITHDRAW,
    ),
    _S.ACKNOWLEDGED: (
        Step(_S.INVESTIGATING, "complaint.case_investigation_started"),
        WITHDRAW,
    ),
    _S.INVESTIGATING: (
        Step(_S.RESOLUTION_PROPOSED, "complaint.case_resolution_proposed", needs_resolution=True),
        WITHDRAW,
    ),
    _S.RESOLUTION_PROPOSED: (
        Step(_S.RESOLUTION_APPROVED, "complaint.case_resolution_approved", supervisor_only=True),
        # A supervisor sends a proposal back for more fact-finding.
        Step(_S.INVESTIGATING, "complaint.case_investigation_started", supervisor_only=True),
        WITHDRAW,
    ),
    _S.RESOLUTION_APPROVED: (Step(_S.COMMUNICATED, "complaint.case_communicated"),),
    _S.COMMUNICATED: (
        Step(_S.CLOSED, "complaint.case_closed"),
        Step(_S.REOPENED, "complaint.case_reopened"),
    ),
    _S.CLOSED: (Step(_S.REOPENED, "complaint.case_reopened"),),
    _S.REOPENED: (
        Step(_S.ACKNOWLEDGED, "complaint.case_acknowledged"),
        WITHDRAW,
    ),
    _S.WITHDRAWN: (),
}

OPENED_EVENT = "complaint.case_opened"
ASSIGNED_EVENT = "complaint.case_assigned"
TERMINAL: frozenset[Status] = frozenset({Status.CLOSED, Status.WITHDRAWN})

# How far along the main line a status is; a time limit is met once the case gets that far.
PROGRESS: dict[Status, int] = {
    _S.RECEIVED: 0,
    _S.REOPENED: 0,
    _S.ACKNOWLEDGED: 1,
    _S.INVESTIGATING: 2,
    _S.RESOLUTION_PROPOSED: 3,
    _S.RESOLUTION_APPROVED: 4,
    _S.COMMUNICATED: 5,
    _S.CLOSED: 6,
    _S.WITHDRAWN: -1,
}


class TransitionRefused(Exception):
    """The table does not allow this step from the case's status (HTTP 409)."""

    def __init__(self, current: Status, wanted: str, allowed: list[str]) -> None:
        shown = ", ".join(allowed) if allowed else "none (the case is final)"
        super().__init__(f"a case that is {current.value} cannot go to {wanted}; allowed: {shown}")
        self.current = current
        self.wanted = wanted
        self.allowed = allowed


class NotPermitted(Exception):
    """The step exists but this caller may not take it (HTTP 403)."""


class MissingResolution(ValueError):
    """Proposing a resolution needs the resolution itself (HTTP 422)."""


def allowed_next(current: Status) -> list[str]:
    return [step.to.value for step in TRANSITIONS[current]]


def check_transition(
    current: Status, wanted: str, *, is_supervisor: bool, has_resolution: bool
) -> Step:
    """The table row for `current -> wanted`, or the reason it is refused."""
    step = next((s for s in TRANSITIONS[current] if s.to.value == wanted), None)
    if step is None:
        raise TransitionRefused(current, wanted, allowed_next(current))
    if step.supervisor_only and not is_supervisor:
        raise NotPermitted(f"only a supervisor may move a case to {step.to.value}")
    if step.needs_resolution and not has_resolution:
        raise MissingResolution(f"moving to {step.to.value} needs a resolution")
    return step


def case_number(local_day: date, sequence: int, *, prefix: str = "TS") -> str:
    """`TS-20261123-0007`: the hospital-local day the case opened and that day's counter."""
    return f"{prefix}-{local_day:%Y%m%d}-{sequence:04d}"


def priority_for(*, serious: bool, complex_: bool, category: Category) -> Priority:
    if serious:
        return Priority.URGENT
    if complex_ or category == Category.IMAGING_DISPUTE:
        return Priority.HIGH
    return Priority.NORMAL
