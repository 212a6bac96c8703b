"""HTTP request bodies and the case as staff see it (masked by role)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from complaints.access import Actor, contact_for, has_complainant, takes_supervisor_steps
from complaints.domain import Category, Satisfaction, Status, steps_for
from complaints.intake import NewComplaint, new_complaint
from complaints.repository import AUDIT_SEALED
from hospital_shared.bounds import BigInt, Int32
from hospital_shared.events import check_reachable
from hospital_shared.http_api import E164Phone
from hospital_shared.time_limits import running_state
from hospital_shared.vocabulary import CaseLimit, ComplaintChannel, LimitState

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatientIn(_Body):
    """The complainant: a patient by their hospital id, or someone the hospital has no id for
    (a relative, a visitor) by name and phone, which the first response goes to."""

    patient_id: Short | None = None
    name: Short | None = None
    # Checked, and kept in E.164 (the form the APIs answer with); one stored before this check
    # still reads back as stored (`wire_phone`), and the events carry a phone as plain text.
    phone: E164Phone | None = None
    sms_opt_out: bool = False

    @model_validator(mode="after")
    def _someone(self) -> PatientIn:
        if not (self.patient_id or self.name or self.phone):
            raise ValueError("give the patient's id, or the complainant's name or phone")
        return self


class ComplainantIn(PatientIn):
    """Who lodged a complaint, praise or a suggestion: a patient by their hospital id, or
    someone the hospital has no id for (a relative, a visitor) by name and phone, both."""

    @model_validator(mode="after")
    def _reachable(self) -> ComplainantIn:
        # the event contract's rule: a name or a phone alone was taken, and the complaint was
        # then refused where it reached the contract (refused here naming the missing field)
        check_reachable(self)
        return self


class DepartmentIn(_Body):
    code: Short
    name: Short | None = None


class OpenCase(_Body):
    """A complaint taken at a desk or on the phone (or sent by a hospital system)."""

    channel: ComplaintChannel = ComplaintChannel.ONSITE
    description: Text
    patient: ComplainantIn | None = None
    department: DepartmentIn | None = None
    category: Short | None = Field(None, description="leave empty to classify from the text")
    complex: bool | None = Field(None, description="override: a complex case (72 h answer)")
    submitted_at: AwareDatetime | None = Field(
        None, description="when the patient lodged it (default: now); the clocks start here"
    )
    external_id: Short | None = Field(
        None,
        description="the caller's id; repeating it answers with the case already opened (only"
        " its number and status when the caller may not read it). A member of staff's ids are"
        " their own; a hospital system's are shared with its Kafka events",
    )

    def complaint(self, now: datetime, *, external_id: str) -> NewComplaint:
        return new_complaint(
            patient=self.patient,
            department=self.department,
            channel=self.channel,
            external_id=external_id,
            description=self.description,
            submitted_at=self.submitted_at or now,
            category=self.category,
            complex=self.complex,
        )


class ResolutionKind(StrEnum):
    REFUND = "refund"
    FREE_RE_EXAMINATION = "free_re_examination"
    APOLOGY = "apology"
    EXPLANATION = "explanation"
    COMPENSATION = "compensation"
    SETTLEMENT = "settlement"  # 和解协议
    OTHER = "other"


class CaseStepIn(_Body):
    """A step on a case, sent with the version of the case its sender read (optional: without
    it the step applies to the case as it is, as before)."""

    expected_version: Int32 | None = Field(
        None,
        description="the case's `version` as the sender read it: a 409 (version-mismatch, with"
        " the case's status and version now) when the case has changed since",
    )


class TransitionIn(CaseStepIn):
    to: Short
    note: Text | None = None
    resolution: Text | None = None
    resolution_kind: ResolutionKind | None = None


class SatisfactionIn(CaseStepIn):
    rating: Satisfaction
    comment: Text | None = None


class AssignmentIn(CaseStepIn):
    assignee_id: Short


class RuleIn(_Body):
    category: Category
    keyword: Short
    serious: bool = False
    position: Int32 = 100  # an `integer` column
    enabled: bool = True
    note: Text | None = None


class RulePatch(_Body):
    """The columns to change; only `note` may be cleared with null. The others are NOT NULL
    columns: a null for them is a 422 naming the field (it was a NotNullViolation, a 500)."""

    category: Category | None = None
    keyword: Short | None = None
    serious: bool | None = None
    position: Int32 | None = None
    enabled: bool | None = None
    note: Text | None = None

    @field_validator("category", "keyword", "serious", "position", "enabled", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out but not null")
        return value


class RuleOrder(_Body):
    """Every rule's id in the order they are to be tried, and the `version` of the list
    (`GET /v1/category-rules`) the order was made from."""

    ids: list[BigInt] = Field(min_length=1, max_length=5000)
    version: Short


class ClassifyIn(_Body):
    text: Text
    category: Short | None = None


def _time_limit(d: dict[str, Any], now: datetime) -> dict[str, Any]:
    if d["outcome"]:
        state = d["outcome"]
    elif d["breached_at"]:
        state = LimitState.BREACHED
    else:
        state = running_state(warn_at=d["warn_at"], due_at=d["due_at"], now=now)
        if d["warned_at"] and state == LimitState.RUNNING:
            state = LimitState.WARNING
    return {
        "limit": d["limit_name"],
        "cycle": d["cycle"],
        "starts_at": d["starts_at"],
        "due_at": d["due_at"],
        "warn_at": d["warn_at"],
        "settled_at": d["settled_at"],
        "state": state,
    }


def steps_of(case: dict[str, Any], actor: Actor) -> list[str]:
    """The next steps `actor` may take on the case (`domain.steps_for`)."""
    return steps_for(
        Status(case["status"]),
        is_supervisor=takes_supervisor_steps(actor),
        role=actor.role,
        escalated=case.get("director_id") is not None,
        proposer=case.get("proposed_by") == actor.id,
    )


def case_view(
    case: dict[str, Any],
    deadlines: Sequence[dict[str, Any]],
    *,
    actor: Actor,
    now: datetime,
    satisfaction_check_days: float,
) -> dict[str, Any]:
    current = [d for d in deadlines if d["cycle"] == case["cycle"]]
    planned_check = next(
        (d for d in current if d["limit_name"] == CaseLimit.SATISFACTION_CHECK), None
    )
    return {
        "case_number": case["case_number"],
        "status": case["status"],
        "allowed_next": steps_of(case, actor),
        "version": case["version"],
        "cycle": case["cycle"],
        "channel": case["channel"],
        "category": case["category"],
        "classification": {
            "source": case["category_source"],
            "explanation": case["classification"],
            "rule_id": case["matched_rule_id"],
            "keyword": case["matched_keyword"],
            "serious_rule_id": case["serious_rule_id"],
            "serious_keyword": case["serious_keyword"],
            "submitted_category": case["submitted_category"],
        },
        "priority": case["priority"],
        "serious": case["serious"],
        "complex": case["complex"],
        "department": {"code": case["department_code"], "name": case["department_name"]},
        "assignee_id": case["assignee_id"],
        "handling_department": case["handling_department"],
        "supervisor_id": case["supervisor_id"],
        "patient": contact_for(actor, case) if has_complainant(case) else None,
        "description": case["description"],
        "resolution": case["resolution"],
        "resolution_kind": case["resolution_kind"],
        "satisfaction": case["satisfaction"],
        **procedure_view(case),
        "submitted_at": case["submitted_at"],
        "opened_at": case["opened_at"],
        "closed_at": case["closed_at"],
        "time_limits": [_time_limit(d, now) for d in current],
        # Years its working-day limits counted Monday to Friday, for want of the official
        # calendar: those limits may be wrong until operations add the year.
        "calendar_missing_years": list(case.get("calendar_missing_years") or []),
        "satisfaction_check": (
            {"due_at": planned_check["due_at"], "state": _time_limit(planned_check, now)["state"]}
            if planned_check
            else {"due_at": None, "rule": f"within {satisfaction_check_days:g} days of closing"}
        ),
        "earlier_cycles": [_time_limit(d, now) for d in deadlines if d["cycle"] != case["cycle"]],
    }


def case_receipt(case: dict[str, Any]) -> dict[str, Any]:
    """What someone who may not read a case learns of it (see `api.render`): that it exists
    under this number and where it stands; never the complaint, the patient or who handles it."""
    return {"case_number": case["case_number"], "status": case["status"], "redacted": True}


def procedure_view(case: dict[str, Any]) -> dict[str, Any]:
    """The procedure's records on the case (issue 21); accountability is read apart."""
    settled = case["settlement_signed_on"] is not None
    return {
        "validity": {"decision": case["validity"], "reason": case["validity_reason"]},
        "proposed_by": case["proposed_by"],
        "escalation": {
            "director_id": case["director_id"],
            "escalated_at": case["escalated_at"],
            "reason": case["escalation_reason"],
        },
        "imaging_confirmation": {
            "confirmed_at": case["imaging_confirmed_at"],
            "confirmed_by": case["imaging_confirmed_by"],
        },
        "settlement": (
            {
                "amount": str(case["settlement_amount"]),
                "signed_on": case["settlement_signed_on"],
                "document_ref": case["settlement_document_ref"],
            }
            if settled
            else None
        ),
        "summary": {"text": case["summary"], "signed_off_by": case["signed_off_by"]},
        "confidentiality": case["confidentiality"],
    }


# What a confidential case (保密) withholds from those who may follow it but not read it.
_TEXT_FIELDS = ("description", "resolution")


def withhold_text(view: dict[str, Any]) -> dict[str, Any]:
    """The case without what it says: the complaint, the resolution, the reasons and the
    summary (see `access.can_read_text`)."""
    shown = {**view, **dict.fromkeys(_TEXT_FIELDS), "text_withheld": True}
    shown["validity"] = {**view["validity"], "reason": None}
    shown["escalation"] = {**view["escalation"], "reason": None}
    shown["summary"] = {**view["summary"], "text": None}
    return shown


def withhold_notes(audit: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The audit trail without its free text (notes, comments) for a confidential case: the
    keys sealed at rest (`AUDIT_SEALED`), so a free text added to one is withheld too."""
    return [
        {
            **entry,
            "detail": {k: v for k, v in entry["detail"].items() if k not in AUDIT_SEALED},
        }
        for entry in audit
    ]
