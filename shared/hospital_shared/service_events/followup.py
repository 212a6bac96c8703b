"""Events the follow-up service publishes: the lifecycle of follow-up calls (回访) on
`followup.tasks.v1`, the staff roster on `staff.roster.v1`, and the patients' call opt-outs on
`followup.call-opt-outs.v1` (read back by follow-up itself). They live in `shared` because
other services consume them (notifications sends staff alerts and survey invitations,
complaints routes cases to staff, metrics computes follow-up rates): this is the contract.

Every task event carries `task_id`, `kind`, `patient_id` and `department_code`, so a consumer
can follow one task without a lookup. Task kinds:
`inpatient_discharge`, `outpatient_visit`, `transfer_check`, `bereavement_call`,
`second_call` (二次回访), `spot_check` (主管抽查) and `next_call` (计划回访: a later call
planned by an outcome, 制定下次回访计划).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field

from hospital_shared import topics
from hospital_shared.events import Contract, NonEmpty, register_event
from hospital_shared.service_events.surveys import SurveyAnswer
from hospital_shared.vocabulary import EventName, TaskKind, TaskStatus
from hospital_shared.vocabulary import Satisfaction as Satisfaction  # named here as it always was


class StaffRole(StrEnum):
    AGENT = "agent"
    DOCTOR = "doctor"
    SUPERVISOR = "supervisor"
    # operations (运营部): no calls nor cases; hears the platform's operations alerts
    ADMIN = "admin"


Score = Annotated[int, Field(ge=1, le=5)]


class _TaskEvent(Contract):
    task_id: NonEmpty
    kind: TaskKind
    patient_id: NonEmpty
    department_code: NonEmpty


class FollowUpTaskPlanned(_TaskEvent):
    """A follow-up call (回访) was planned: from a discharge or visit (`rule` says which policy
    rule), or derived from another task (`parent_task_id`: a second call or a spot check)."""

    source_event_id: NonEmpty
    due_at: AwareDatetime
    assignee_id: str | None = None
    rule: str | None = None
    not_before: AwareDatetime | None = None
    parent_task_id: str | None = None


class FollowUpTaskAssigned(_TaskEvent):
    """A task was given to a staff member: by least-load assignment, or reassigned by a
    supervisor (`assigned_by`)."""

    assignee_id: NonEmpty
    previous_assignee_id: str | None = None
    assigned_by: str | None = None
    due_at: AwareDatetime


class FollowUpTaskDue(_TaskEvent):
    """A task's call window opened: the assignee should call now."""

    assignee_id: str | None = None
    due_at: AwareDatetime
    attempt: int = 1


class FollowUpTaskOverdue(_TaskEvent):
    """A task passed its due time without an outcome (published once per attempt)."""

    assignee_id: str | None = None
    due_at: AwareDatetime
    attempt: int = 1


class FollowUpCallRetryScheduled(_TaskEvent):
    """The patient could not be reached; another attempt is planned."""

    attempts_made: int
    max_attempts: int
    next_attempt_at: AwareDatetime
    due_at: AwareDatetime
    called_by: str | None = None  # who made the attempt (per-staff figures)


class FollowUpTaskUnreachable(_TaskEvent):
    """The last attempt failed. When `survey_invitation` is true (and the patient has not opted
    out of SMS), the notifications service sends an SMS survey invitation to `patient_phone`."""

    attempts_made: int
    source_ref: NonEmpty
    patient_phone: str | None = None
    sms_opt_out: bool = False
    survey_invitation: bool = True
    called_by: str | None = None  # who made the last attempt (per-staff figures)


class FollowUpTaskCompleted(_TaskEvent):
    """The call reached the patient (or family) and its outcome was recorded."""

    completed_by: NonEmpty
    completed_at: AwareDatetime
    attempts_made: int
    satisfaction: Satisfaction | None = None
    score: Score | None = None
    objection_raised: bool = False
    second_call_task_id: str | None = None
    spot_check_task_id: str | None = None
    # the call's answers per question (issue 20): each with its aspect, as a survey's are
    answers: tuple[SurveyAnswer, ...] = Field(default=(), max_length=30)
    questionnaire_version: int | None = None


class FollowUpTaskWithdrawn(_TaskEvent):
    """The call is no longer wanted: the visit was cancelled or missed, the discharge
    cancelled, the patient opted out of calls (`patient_opted_out`) or was reported deceased
    (`patient_deceased`)."""

    reason: NonEmpty
    source_event_id: NonEmpty


class FollowUpTaskTransferred(_TaskEvent):
    """The patient moved department (ADT^A02) while the admission's call was open: the call
    now belongs to `department_code`. An assignee of another department handed it back
    (`unassigned`, status `planned`): the new department's staff take it."""

    previous_department_code: str | None = None
    assignee_id: str | None = None
    previous_assignee_id: str | None = None
    unassigned: bool = False
    status: TaskStatus
    due_at: AwareDatetime
    source_event_id: NonEmpty


class FollowUpTaskReleased(_TaskEvent):
    """The call's assignee was made inactive on the roster before it was done, given a role
    that may not make it, or moved to another department than the call's: the call went back to
    be assigned again (status `planned`, no assignee) to the department's active staff.
    `reason` says why (`staff_deactivated`, `staff_role_changed`, `staff_department_changed`),
    `source_event_id` is the roster change's `staff.member_saved`. Attempts already made still
    count."""

    previous_assignee_id: NonEmpty
    reason: NonEmpty
    status: TaskStatus
    due_at: AwareDatetime
    attempts_made: int
    source_event_id: NonEmpty


class StaffMemberSaved(Contract):
    """A staff member was added to or changed in the roster."""

    staff_id: NonEmpty
    name: NonEmpty
    department_code: NonEmpty
    role: StaffRole
    capacity: int
    phone: str | None = None
    active: bool = True
    email: str | None = None  # where staff notifications go by email, when set


# --- followup.call-opt-outs.v1 ------------------------------------------------------
# A call opt-out is written over HTTP (a call's outcome), not from Kafka: follow-up publishes
# each one and reads it back itself, so that a restore of the database writes again those
# made after the backup, like any other event (followup.call_opt_outs). Key: the patient id.


class FollowUpCallOptOutRecorded(Contract):
    """The patient asked during a follow-up call (`task_id`) not to be called again: no call
    is planned for them from then on."""

    patient_id: NonEmpty
    task_id: NonEmpty
    recorded_by: NonEmpty
    recorded_at: AwareDatetime


for _type, _model in (
    (EventName.TASK_PLANNED, FollowUpTaskPlanned),
    (EventName.TASK_ASSIGNED, FollowUpTaskAssigned),
    (EventName.TASK_DUE, FollowUpTaskDue),
    (EventName.TASK_OVERDUE, FollowUpTaskOverdue),
    (EventName.CALL_RETRY_SCHEDULED, FollowUpCallRetryScheduled),
    (EventName.TASK_UNREACHABLE, FollowUpTaskUnreachable),
    (EventName.TASK_COMPLETED, FollowUpTaskCompleted),
    (EventName.TASK_WITHDRAWN, FollowUpTaskWithdrawn),
    (EventName.TASK_TRANSFERRED, FollowUpTaskTransferred),
    (EventName.TASK_RELEASED, FollowUpTaskReleased),
):
    register_event(_type, _model, topics.FOLLOWUP_TASKS)

register_event(EventName.STAFF_MEMBER_SAVED, StaffMemberSaved, topics.STAFF_ROSTER)
register_event(EventName.CALL_OPT_OUT_RECORDED, FollowUpCallOptOutRecorded, topics.CALL_OPT_OUTS)
