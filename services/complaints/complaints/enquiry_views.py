"""HTTP request bodies of enquiries and feedback, and what staff see of them (masked by role)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from complaints.access import Actor, has_complainant
from complaints.enquiries import EnquiryChannel, can_view_enquiry, can_work_enquiry
from complaints.feedback import FeedbackKind, SuggestionOutcome
from complaints.feedback_cases import NewFeedback, can_view_feedback, contact_of
from complaints.views import ComplainantIn, DepartmentIn, PatientIn, Short, Text
from hospital_shared.http_api import masked_phone, wire_phone
from hospital_shared.logging import mask_name
from hospital_shared.time_limits import running_state
from hospital_shared.vocabulary import EnquiryStatus, FeedbackChannel, LimitOutcome, LimitState

StaffId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


REPEAT = (
    "the caller's id; repeating it answers 200 with the {what} already recorded instead of"
    " recording it twice. A member of staff's ids are their own{shared}"
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TakeEnquiry(_Body):
    """An enquiry taken by phone, on site or online; whoever takes it owns it."""

    channel: EnquiryChannel
    question: Text
    complex: bool = Field(False, description="a complex enquiry (48 h; on site 2 h)")
    taken_at: AwareDatetime | None = Field(
        None, description="when the patient asked (default: now); the clock starts here"
    )
    patient: PatientIn | None = None
    department: DepartmentIn | None = Field(None, description="the department asked about")
    external_id: Short | None = Field(None, description=REPEAT.format(what="enquiry", shared=""))


class HandOverIn(_Body):
    to: StaffId
    reason: Text


class AnswerIn(_Body):
    answer: Text


class ConvertIn(_Body):
    note: Text | None = None


class FeedbackIn(_Body):
    """Praise (表扬) or a suggestion (建议), taken alongside complaints."""

    kind: FeedbackKind
    channel: FeedbackChannel = FeedbackChannel.ONSITE
    text: Text
    category: Short | None = Field(None, description="unknown or empty: filed as other")
    department: DepartmentIn | None = None
    staff_id: StaffId | None = Field(None, description="the member of staff praised")
    patient: ComplainantIn | None = None
    received_at: AwareDatetime | None = None
    external_id: Short | None = Field(
        None,
        description=REPEAT.format(
            what="feedback", shared="; a hospital system's are shared with its Kafka events"
        ),
    )

    def feedback(self, now: datetime, *, external_id: str | None) -> NewFeedback:
        return NewFeedback(
            kind=self.kind,
            channel=self.channel,
            text=self.text,
            received_at=self.received_at or now,
            category=self.category,
            department_code=self.department.code if self.department else None,
            staff_id=self.staff_id,
            external_id=external_id,
            **contact_of(self.patient),
        )


class SuggestionAnswerIn(_Body):
    answer: Text
    outcome: SuggestionOutcome


def _patient(row: dict[str, Any], unmasked: bool) -> dict[str, Any] | None:
    """Who asked: a patient by id, or someone without one (a relative, a visitor) by name or
    phone, whom the answer goes back to; None when anonymous."""
    if not has_complainant(row):
        return None
    name, phone = row["patient_name"], row["patient_phone"]
    return {
        "patient_id": row["patient_id"],
        "name": name if unmasked or not name else mask_name(name),
        "phone": wire_phone(phone) if unmasked else masked_phone(phone),
        "masked": not unmasked,
    }


def _limit_state(row: dict[str, Any], now: datetime) -> str:
    if row["answered_at"] is not None:
        return LimitOutcome.MET if row["answered_in_time"] else LimitOutcome.LATE
    if row["status"] == EnquiryStatus.CONVERTED:
        return EnquiryStatus.CONVERTED
    if row["breached_at"]:
        return LimitState.BREACHED
    state = running_state(warn_at=row["warn_at"], due_at=row["due_at"], now=now)
    return LimitState.WARNING if row["warned_at"] and state == LimitState.RUNNING else state


def enquiry_view(
    row: dict[str, Any], history: list[dict[str, Any]] | None, *, actor: Actor, now: datetime
) -> dict[str, Any]:
    if not can_view_enquiry(actor, row):
        return {"enquiry_number": row["enquiry_number"], "status": row["status"], "redacted": True}
    view = {
        key: row[key]
        for key in (
            "enquiry_number", "status", "channel", "complex", "question", "answer",
            "department_code", "taken_by", "owner_id", "owner_department", "supervisor_id",
            "taken_at", "answered_at", "answered_in_time", "case_number",
        )
    }  # fmt: skip
    view["patient"] = _patient(row, can_work_enquiry(actor, row))
    view["time_limit"] = {
        "limit": row["limit_name"],
        "starts_at": row["taken_at"],
        "warn_at": row["warn_at"],
        "due_at": row["due_at"],
        "state": _limit_state(row, now),
    }
    if history is not None:
        view["history"] = history
    return view


def feedback_view(row: dict[str, Any], *, actor: Actor) -> dict[str, Any]:
    if not can_view_feedback(actor, row):
        return {"feedback_number": row["feedback_number"], "redacted": True}
    view = {
        key: row[key]
        for key in (
            "feedback_number", "kind", "channel", "category", "text", "department_code",
            "staff_id", "recorded_by", "received_at", "answer", "outcome", "answered_by",
            "answered_at",
        )
    }  # fmt: skip
    view["patient"] = _patient(row, actor.id == row["recorded_by"])
    return view
