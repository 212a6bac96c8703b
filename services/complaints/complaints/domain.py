"""The complaint case's lifecycle as a transition table, and the pure rules around it.

No I/O here: the table says which step may follow which, who may take it and which event it
publishes; `check_transition` applies it and says what is allowed instead when it refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache

from hospital_shared.vocabulary import FINISHED_CASE_STATUSES, CaseStatus, ComplaintCategory
from hospital_shared.vocabulary import Priority as Priority
from hospital_shared.vocabulary import Satisfaction as Satisfaction
from hospital_shared.vocabulary import Validity as Validity

# The case's statuses, categories, priorities and the satisfaction scale are the platform's
# one vocabulary (`hospital_shared.vocabulary`), named here as this service always named them.
Status = CaseStatus
Category = ComplaintCategory


@dataclass(frozen=True, slots=True)
class Step:
    """One row of the transition table."""

    to: Status
    event_type: str
    supervisor_only: bool = False
    needs_resolution: bool = False
    # The step's note is its substance (the reason a complaint is unfounded, how the
    # misunderstanding was cleared up, the supervisor's summary): it may not be left out.
    needs_note: bool = False


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
        # 投诉不成立: the validity decision's reason is the note.
        Step(_S.UNFOUNDED, "complaint.case_found_unfounded", needs_note=True),
        WITHDRAW,
    ),
    _S.RESOLUTION_PROPOSED: (
        Step(_S.RESOLUTION_APPROVED, "complaint.case_resolution_approved", supervisor_only=True),
        # A supervisor sends a proposal back for more fact-finding.
        Step(_S.INVESTIGATING, "complaint.case_investigation_started", supervisor_only=True),
        WITHDRAW,
    ),
    # A founded complaint is closed only after its approved resolution is carried out
    # (实施处理方案), communicated, and its summary signed off by the supervisor (总结批示):
    # neither step may be skipped, so each is the only way on from the step before it.
    _S.RESOLUTION_APPROVED: (
        Step(_S.RESOLUTION_IMPLEMENTED, "complaint.case_resolution_implemented"),
    ),
    _S.RESOLUTION_IMPLEMENTED: (Step(_S.COMMUNICATED, "complaint.case_communicated"),),
    _S.COMMUNICATED: (
        Step(_S.REOPENED, "complaint.case_reopened"),
        Step(
            _S.SUMMARY_SIGNED_OFF,
            "complaint.case_summary_signed_off",
            supervisor_only=True,
            needs_note=True,
        ),
    ),
    _S.SUMMARY_SIGNED_OFF: (
        Step(_S.CLOSED, "complaint.case_closed"),
        Step(_S.REOPENED, "complaint.case_reopened"),
    ),
    # Not withdrawn: the patient is told why the complaint does not hold (消除误会), and the
    # note says how; a supervisor may send the decision back to fact-finding.
    _S.UNFOUNDED: (
        Step(_S.CLOSED, "complaint.case_closed", needs_note=True),
        Step(_S.INVESTIGATING, "complaint.case_investigation_started", supervisor_only=True),
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
TERMINAL: frozenset[Status] = FINISHED_CASE_STATUSES

# How far along the main line a status is; a time limit is met once the case gets that far.
PROGRESS: dict[Status, int] = {
    _S.RECEIVED: 0,
    _S.REOPENED: 0,
    _S.ACKNOWLEDGED: 1,
    _S.INVESTIGATING: 2,
    _S.RESOLUTION_PROPOSED: 3,
    # Deciding a complaint unfounded ends the fact-finding, like proposing a resolution.
    _S.UNFOUNDED: 3,
    _S.RESOLUTION_APPROVED: 4,
    _S.RESOLUTION_IMPLEMENTED: 5,
    _S.COMMUNICATED: 6,
    _S.SUMMARY_SIGNED_OFF: 7,
    _S.CLOSED: 8,
    _S.WITHDRAWN: -1,
}


class TransitionRefused(Exception):
    """The table does not allow this step from the case's status (HTTP 409). When the wanted
    status lies further on, `missing` names the step that must come first (closing a founded
    complaint before the summary is signed off names `summary_signed_off`)."""

    def __init__(
        self, current: Status, wanted: str, allowed: list[str], missing: str | None = None
    ) -> None:
        shown = ", ".join(allowed) if allowed else "none (the case is final)"
        first = f"; {missing} must come first" if missing else ""
        super().__init__(
            f"a case that is {current.value} cannot go to {wanted}{first}; allowed: {shown}"
        )
        self.current = current
        self.wanted = wanted
        self.allowed = allowed
        self.missing = missing


class NotPermitted(Exception):
    """The step exists but this caller may not take it (HTTP 403)."""


class MissingResolution(ValueError):
    """Proposing a resolution needs the resolution itself (HTTP 422)."""


class InvalidField(ValueError):
    """A request field the procedure needs is missing or wrong (HTTP 422 naming `field`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class ProcedureRefused(Exception):
    """The step exists but the procedure refuses it for this case (HTTP 409 with the reason)."""


def allowed_next(current: Status) -> list[str]:
    return [step.to.value for step in TRANSITIONS[current]]


def steps_for(
    current: Status, *, is_supervisor: bool, role: str, escalated: bool, proposer: bool = False
) -> list[str]:
    """The next steps this caller may take (what `check_transition`, `check_approver` and
    `check_four_eyes` accept of them): a handler is not offered the supervisor's steps, nor a
    supervisor the approval of a case escalated to the director, nor whoever proposed the
    resolution (`proposer`) its approval."""
    steps = [s for s in TRANSITIONS[current] if is_supervisor or not s.supervisor_only]
    approving_refused = proposer and role != "system"
    if approving_refused or (escalated and role not in (DIRECTOR_ROLE, "system")):
        steps = [s for s in steps if s.to != Status.RESOLUTION_APPROVED]
    return [s.to.value for s in steps]


def missing_step(current: Status, wanted: str) -> str | None:
    """The first step on the shortest way through the table from `current` to `wanted`, when
    `wanted` is not next but lies ahead (None when it is next, unknown or out of reach)."""
    first_of: dict[Status, Status] = {step.to: step.to for step in TRANSITIONS[current]}
    frontier = list(first_of)
    while frontier:
        here = frontier.pop(0)
        if here.value == wanted:
            return None if first_of[here] == here else first_of[here].value
        for step in TRANSITIONS[here]:
            if step.to not in first_of and step.to != current:
                first_of[step.to] = first_of[here]
                frontier.append(step.to)
    return None


def check_transition(
    current: Status,
    wanted: str,
    *,
    is_supervisor: bool,
    has_resolution: bool,
    has_note: bool = False,
) -> Step:
    """The table row for `current -> wanted`, or the reason it is refused."""
    step = next((s for s in TRANSITIONS[current] if s.to.value == wanted), None)
    if step is None:
        raise TransitionRefused(
            current, wanted, allowed_next(current), missing_step(current, wanted)
        )
    if step.supervisor_only and not is_supervisor:
        raise NotPermitted(f"only a supervisor may move a case to {step.to.value}")
    if step.needs_resolution and not has_resolution:
        raise MissingResolution(f"moving to {step.to.value} needs a resolution")
    if step.needs_note and not has_note:
        raise InvalidField("note", f"moving to {step.to.value} needs a note saying why")
    return step


def case_number(local_day: date, sequence: int, *, prefix: str = "TS") -> str:
    """`TS-20261123-0007`: the hospital-local day the case opened and that day's counter."""
    return f"{prefix}-{_day_stamp(local_day)}-{sequence:04d}"


@lru_cache(maxsize=1024)
def _day_stamp(local_day: date) -> str:
    """`20261123`, formatted once per day: strftime cost eight times the rest of a number,
    and a batch's cases fall on a few days."""
    return f"{local_day:%Y%m%d}"


def priority_for(*, serious: bool, complex_: bool, category: Category) -> Priority:
    if serious:
        return Priority.URGENT
    if complex_ or category == Category.IMAGING_DISPUTE:
        return Priority.HIGH
    return Priority.NORMAL


# --- the rest of the procedure (issue 21): pure rules the use cases in `procedure.py` apply --

DIRECTOR_ROLE = "director"  # 院长/主任: above the supervisors


class Confidentiality(StrEnum):
    """保密: a confidential case's text is read only by the people working it."""

    NORMAL = "normal"
    CONFIDENTIAL = "confidential"


class AccountabilityMeasure(StrEnum):
    """处罚直接责任者: what is done about the staff member directly responsible."""

    CRITICISM = "criticism"  # 批评教育
    WARNING = "warning"  # 警告
    FINE = "fine"  # 经济处罚
    TRAINING = "training"  # 培训
    SUSPENSION = "suspension"  # 停职
    OTHER = "other"


# Carrying out the resolution, accountability and the settlement belong between the approval
# and closing: before it there is nothing approved to carry out, after it the file is closed.
AFTER_APPROVAL: frozenset[Status] = frozenset(
    {
        Status.RESOLUTION_APPROVED,
        Status.RESOLUTION_IMPLEMENTED,
        Status.COMMUNICATED,
        Status.SUMMARY_SIGNED_OFF,
    }
)
# A settlement agreement (和解协议) pays the patient: only a resolution of such a kind has one.
SETTLEMENT_KINDS: frozenset[str] = frozenset({"settlement", "compensation", "refund"})


def check_four_eyes(*, proposed_by: str | None, approver: str) -> None:
    """Four eyes: whoever proposed a resolution may not approve it (HTTP 409)."""
    if proposed_by == approver:
        raise ProcedureRefused(
            f"four eyes: {approver} proposed this resolution and may not approve it too"
        )


def check_approver(*, role: str, escalated: bool) -> None:
    """A case escalated to the director is approved by the director, not a supervisor."""
    if escalated and role not in (DIRECTOR_ROLE, "system"):
        raise NotPermitted("this case is escalated to the director: only the director approves it")


def needs_director(*, serious: bool, category: str, director_categories: frozenset[str]) -> bool:
    """Serious cases and medical disputes go to the director (院长; 主任 for medical disputes)."""
    return serious or category in director_categories


def director_clock_runs(current: Status) -> bool:
    """The director's decision limit runs while there is a proposal to decide: a case escalated
    before it (a serious case as it opens) starts the clock when its resolution is proposed."""
    return current == Status.RESOLUTION_PROPOSED


def check_escalation(current: Status, *, escalated: bool) -> None:
    if current in TERMINAL:
        raise ProcedureRefused(f"a {current.value} case is not escalated")
    if escalated:
        raise ProcedureRefused("the case is escalated to the director already")


def check_validity_decision(current: Status) -> None:
    """投诉是否成立 is decided during the investigation."""
    if current != Status.INVESTIGATING:
        raise ProcedureRefused(
            f"validity is decided while investigating; the case is {current.value}"
        )


def check_after_approval(current: Status, what: str) -> None:
    if current not in AFTER_APPROVAL:
        raise ProcedureRefused(
            f"{what} is recorded once the resolution is approved and before closing;"
            f" the case is {current.value}"
        )


def check_settlement(
    *,
    amount: Decimal,
    signed_on: date,
    document_ref: str,
    submitted_on: date,
    today: date,
) -> None:
    """A settlement agreement (和解协议) pays a positive sum in yuan and fen, was signed between
    the complaint and today, and names the signed document kept on file."""
    if amount <= 0:
        raise InvalidField("amount", "a settlement pays more than 0")
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidField("amount", "a settlement is in yuan and fen: at most 2 decimal places")
    if signed_on > today:
        raise InvalidField("signed_on", "a settlement cannot be signed in the future")
    if signed_on < submitted_on:
        raise InvalidField("signed_on", "a settlement cannot be signed before the complaint")
    if not document_ref.strip():
        raise InvalidField("document_ref", "the signed agreement must be attached by reference")


def check_settlement_allowed(
    current: Status, *, resolution_kind: str | None, recorded: bool
) -> None:
    check_after_approval(current, "a settlement")
    if resolution_kind not in SETTLEMENT_KINDS:
        raise ProcedureRefused(
            f"a {resolution_kind} resolution has no settlement; it needs one of"
            f" {', '.join(sorted(SETTLEMENT_KINDS))}"
        )
    if recorded:
        raise ProcedureRefused("the settlement of this case is recorded already")


def concerned_department(
    category: Category, department: str | None, *, radiology_department: str
) -> str | None:
    """The department a case is handled in: radiology for imaging disputes (放射科 confirms
    them within 2 hours), else the department concerned."""
    if category == Category.IMAGING_DISPUTE:
        return radiology_department
    return department


def check_imaging_confirmation(
    *,
    category: str,
    current: Status,
    confirmed: bool,
    actor_department: str | None,
    radiology_department: str,
) -> None:
    """Only radiology's confirmation of an imaging dispute stops its 2-hour clock."""
    if category != Category.IMAGING_DISPUTE:
        raise ProcedureRefused("only an imaging dispute is confirmed by radiology")
    if actor_department != radiology_department:
        raise NotPermitted(f"only radiology ({radiology_department}) confirms an imaging dispute")
    if current in TERMINAL:
        raise ProcedureRefused(f"the case is {current.value}")
    if confirmed:
        raise ProcedureRefused("radiology has confirmed this imaging dispute already")
