"""What the complaints routes answer, as typed models with examples, so that the OpenAPI
document types every 2xx. The views (views.py, enquiry_views.py) decide what a caller may see;
these say the shape. Times go out in UTC with `Z` (hospital_shared.http_api.WireTime)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hospital_shared.http_api import WireTime
from hospital_shared.vocabulary import ComplaintCategory


def _example(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"example": example})


class Classification(BaseModel):
    source: str = Field(description="rule, keyword_rule, submitted, default ...")
    explanation: str
    rule_id: int | None
    keyword: str | None
    serious_rule_id: int | None
    serious_keyword: str | None
    submitted_category: str | None


class DepartmentOut(BaseModel):
    code: str | None
    name: str | None


class ContactOut(BaseModel):
    """The patient as the caller may see them (masked unless they work the record)."""

    patient_id: str | None = Field(description="none for a complainant without a hospital id")
    name: str | None
    phone: str | None = Field(description="E.164 when unmasked")
    sms_opt_out: bool | None = None
    masked: bool


class TimeLimitOut(BaseModel):
    limit: str
    cycle: int
    starts_at: WireTime
    due_at: WireTime
    warn_at: WireTime
    settled_at: WireTime | None
    state: str = Field(description="running, warning, breached, met, late ...")


class SatisfactionCheckOut(BaseModel):
    due_at: WireTime | None
    state: str | None = None
    rule: str | None = None


class ValidityOut(BaseModel):
    decision: str | None
    reason: str | None


class EscalationOut(BaseModel):
    director_id: str | None
    escalated_at: WireTime | None
    reason: str | None


class ImagingConfirmationOut(BaseModel):
    confirmed_at: WireTime | None
    confirmed_by: str | None


class SettlementOut(BaseModel):
    amount: str = Field(description="yuan, as a decimal string")
    signed_on: date
    document_ref: str | None


class SummaryOut(BaseModel):
    text: str | None
    signed_off_by: str | None


CASE_EXAMPLE: dict[str, Any] = {
    "case_number": "TS20260102-0001", "status": "assigned", "allowed_next": ["in_progress"],
    "version": 3, "cycle": 1, "channel": "onsite", "category": "service_attitude",
    "classification": {"source": "rule", "explanation": "keyword 态度", "rule_id": 3,
                       "keyword": "态度", "serious_rule_id": None, "serious_keyword": None,
                       "submitted_category": None},
    "priority": "normal", "serious": False, "complex": False,
    "department": {"code": "CARD", "name": "心内科"}, "assignee_id": "S-AGENT-01",
    "handling_department": None, "supervisor_id": "S-SUP-01",
    "patient": {"patient_id": "P-1", "name": "张三", "phone": "+8613800138000",
                "sms_opt_out": False, "masked": False},
    "description": "护士态度不好", "resolution": None, "resolution_kind": None,
    "satisfaction": None, "validity": {"decision": None, "reason": None}, "proposed_by": None,
    "escalation": {"director_id": None, "escalated_at": None, "reason": None},
    "imaging_confirmation": {"confirmed_at": None, "confirmed_by": None}, "settlement": None,
    "summary": {"text": None, "signed_off_by": None}, "confidentiality": "normal",
    "submitted_at": "2026-01-02T02:00:00Z", "opened_at": "2026-01-02T02:00:01Z",
    "closed_at": None,
    "time_limits": [{"limit": "first_contact", "cycle": 1, "starts_at": "2026-01-02T02:00:00Z",
                     "due_at": "2026-01-02T04:00:00Z", "warn_at": "2026-01-02T03:36:00Z",
                     "settled_at": None, "state": "running"}],
    "calendar_missing_years": [],
    "satisfaction_check": {"due_at": None, "rule": "within 7 days of closing"},
    "earlier_cycles": [], "text_withheld": False,
}  # fmt: skip
RECEIPT_EXAMPLE = {"case_number": "TS20260102-0001", "status": "assigned", "redacted": True}


class CaseOut(BaseModel):
    """A complaint case as the caller may read it (text withheld on a confidential case for
    those who may follow but not read it: `text_withheld`)."""

    model_config = _example(CASE_EXAMPLE)

    case_number: str
    status: str
    allowed_next: list[str] = Field(
        description="the steps its status allows that the caller may take (a handler is not"
        " offered a supervisor's step, nor a supervisor the approval of an escalated case)"
    )
    version: int = Field(
        description="counts every change of the case: send it back as a step's"
        " `expected_version` so the step applies only to the case as read"
    )
    cycle: int
    channel: str
    category: str
    classification: Classification
    priority: str
    serious: bool
    complex: bool
    department: DepartmentOut
    assignee_id: str | None
    handling_department: str | None
    supervisor_id: str | None
    patient: ContactOut | None
    description: str | None
    resolution: str | None
    resolution_kind: str | None
    satisfaction: str | None
    validity: ValidityOut
    proposed_by: str | None
    escalation: EscalationOut
    imaging_confirmation: ImagingConfirmationOut
    settlement: SettlementOut | None
    summary: SummaryOut
    confidentiality: str
    submitted_at: WireTime
    opened_at: WireTime
    closed_at: WireTime | None
    time_limits: list[TimeLimitOut]
    calendar_missing_years: list[int]
    satisfaction_check: SatisfactionCheckOut
    earlier_cycles: list[TimeLimitOut]
    text_withheld: bool = False


class CaseReceipt(BaseModel):
    """What someone who may not read a case learns of it: its number and where it stands."""

    model_config = _example(RECEIPT_EXAMPLE)

    case_number: str
    status: str
    redacted: bool = True


CaseAnswer = CaseOut | CaseReceipt


class OpenedCase(CaseOut):
    model_config = _example({"created": True, **CASE_EXAMPLE})

    created: bool = Field(description="false: the external id was seen before; its case")


class OpenedReceipt(CaseReceipt):
    model_config = _example({"created": False, **RECEIPT_EXAMPLE})

    created: bool


class AuditEntry(BaseModel):
    at: WireTime
    actor_id: str
    actor_role: str
    action: str
    from_status: str | None
    to_status: str | None
    detail: dict[str, Any]


class CaseAudit(BaseModel):
    model_config = _example({"case_number": "TS20260102-0001", "audit": [{
        "at": "2026-01-02T02:00:01Z", "actor_id": "S-AGENT-01", "actor_role": "agent",
        "action": "opened", "from_status": None, "to_status": "registered", "detail": {}}]})  # fmt: skip

    case_number: str
    audit: list[AuditEntry]


class AccountabilityEntry(BaseModel):
    id: int
    staff_id: str
    measure: str
    detail: str | None
    recorded_by: str
    recorded_at: WireTime


class CaseAccountability(BaseModel):
    model_config = _example({"case_number": "TS20260102-0001", "accountability": [{
        "id": 1, "staff_id": "S-DOC-01", "measure": "warning", "detail": None,
        "recorded_by": "S-SUP-01", "recorded_at": "2026-01-03T02:00:00Z"}]})  # fmt: skip

    case_number: str
    accountability: list[AccountabilityEntry]


class HandlerLoad(BaseModel):
    assignee_id: str | None
    role: str | None
    department: str | None
    open_cases: int
    warning: int = Field(description="open cases with a time limit past its warning point")
    breached: int


class Workload(BaseModel):
    model_config = _example({"department": "CS", "handlers": [{
        "assignee_id": "S-AGENT-01", "role": "agent", "department": "CS", "open_cases": 4,
        "warning": 1, "breached": 0}]})  # fmt: skip

    department: str | None
    handlers: list[HandlerLoad]


class HandbackOut(BaseModel):
    model_config = _example({
        "staff_id": "S-AGENT-01", "role": "admin", "department_code": "CS", "active": True,
        "cases_handled": 4, "cases_supervised": 0, "enquiries_owned": 2,
        "enquiries_supervised": 0})  # fmt: skip

    staff_id: str
    role: str
    department_code: str | None = Field(
        default=None, description="the department asked about; null: the one they have"
    )
    active: bool
    cases_handled: int = Field(description="open cases they handle that would go to another")
    cases_supervised: int = Field(description="open cases they supervise that would get another")
    enquiries_owned: int = Field(description="open enquiries they own that would go to another")
    enquiries_supervised: int = Field(
        description="open enquiries they supervise that would get another supervisor"
    )


class RuleOut(BaseModel):
    model_config = _example({
        "id": 3, "category": "service_attitude", "keyword": "态度", "serious": False,
        "position": 100, "enabled": True, "note": None, "updated_at": "2026-01-02T02:00:00Z",
        "updated_by": "S-SUP-01"})  # fmt: skip

    id: int
    category: str
    keyword: str
    serious: bool
    position: int
    enabled: bool
    note: str | None
    updated_at: WireTime
    updated_by: str


class Rules(BaseModel):
    model_config = _example({"rules": [RuleOut.model_config["json_schema_extra"]["example"]],  # type: ignore[index]
                             "version": "5c1f0e9a2b7d4c3e8a10"})  # fmt: skip

    rules: list[RuleOut]
    version: str = Field(
        description="what this list is: any rule added, removed or changed gives another; "
        "`PUT /v1/category-rules/order` names the version its order was made from"
    )


class Categories(BaseModel):
    """The categories this installation files under, per kind: what a form should offer."""

    model_config = _example({
        "complaint": [ComplaintCategory.STAFF_ATTITUDE.value, ComplaintCategory.WAITING_TIME.value,
                      ComplaintCategory.OTHER.value],
        "praise": ["service_attitude", "ward_cleanliness", "other"],
        "suggestion": ["process", "parking", "other"]})  # fmt: skip

    complaint: list[str] = Field(
        description="the complaint categories (a case's category is one of these; an unknown "
        "one is classified with the text)"
    )
    praise: list[str] = Field(
        description="COMPLAINTS_PRAISE_CATEGORIES, then other (anything else is filed as other)"
    )
    suggestion: list[str] = Field(
        description="COMPLAINTS_SUGGESTION_CATEGORIES, then other (anything else is filed as other)"
    )


class Verdict(BaseModel):
    model_config = _example({
        "category": "service_attitude", "source": "rule", "rule_id": 3, "keyword": "态度",
        "serious": False, "explanation": "keyword 态度 (rule 3)"})  # fmt: skip

    category: str
    source: str
    rule_id: int | None
    keyword: str | None
    serious: bool
    explanation: str


class YearSummary(BaseModel):
    year: int
    source: str
    notice: str
    holidays: int
    workdays: int


class CalendarYears(BaseModel):
    model_config = _example({"years": [{"year": 2026, "source": "国务院办公厅通知", "notice":
                                        "国办发明电〔2025〕7号", "holidays": 33, "workdays": 6}],
                             "missing_years": [2027]})  # fmt: skip

    years: list[YearSummary]
    # what the console's case page warns of, for all open cases at once
    missing_years: list[int] = Field(
        description="years without a schedule that open cases' working-day limits were"
        " counted Monday to Friday for: add them"
    )


class YearOut(BaseModel):
    model_config = _example({"year": 2026, "holidays": ["2026-01-01"], "workdays": ["2026-01-04"],
                             "source": "国务院办公厅通知", "notice": ""})  # fmt: skip

    year: int
    holidays: list[date]
    workdays: list[date]
    source: str
    notice: str


class EnquiryLimitOut(BaseModel):
    limit: str
    starts_at: WireTime
    warn_at: WireTime
    due_at: WireTime
    state: str = Field(description="running, warning, breached, met, late, converted")


class HistoryEntry(BaseModel):
    at: WireTime
    actor_id: str
    actor_role: str
    action: str
    detail: dict[str, Any]


ENQUIRY_EXAMPLE: dict[str, Any] = {
    "enquiry_number": "ZX20260102-0001", "status": "open", "channel": "phone", "complex": False,
    "question": "周末能挂专家号吗", "answer": None, "department_code": "CARD",
    "taken_by": "S-AGENT-01", "owner_id": "S-AGENT-01", "owner_department": "CS",
    "supervisor_id": "S-SUP-01", "taken_at": "2026-01-02T02:00:00Z", "answered_at": None,
    "answered_in_time": None, "case_number": None,
    "patient": {"patient_id": "P-1", "name": "张三", "phone": "+8613800138000", "masked": False},
    "time_limit": {"limit": "enquiry_simple", "starts_at": "2026-01-02T02:00:00Z",
                   "warn_at": "2026-01-03T00:24:00Z", "due_at": "2026-01-03T02:00:00Z",
                   "state": "running"},
}  # fmt: skip


class EnquiryOut(BaseModel):
    """An enquiry (咨询) as the caller may see it; `history` on a single read only."""

    model_config = _example(ENQUIRY_EXAMPLE)

    enquiry_number: str
    status: str
    channel: str
    complex: bool
    question: str | None
    answer: str | None
    department_code: str | None
    taken_by: str | None
    owner_id: str | None
    owner_department: str | None
    supervisor_id: str | None
    taken_at: WireTime
    answered_at: WireTime | None
    answered_in_time: bool | None
    case_number: str | None
    patient: ContactOut | None
    time_limit: EnquiryLimitOut
    history: list[HistoryEntry] | None = None


class EnquiryReceipt(BaseModel):
    model_config = _example(
        {"enquiry_number": "ZX20260102-0001", "status": "open", "redacted": True}
    )

    enquiry_number: str
    status: str
    redacted: bool = True


EnquiryAnswer = EnquiryOut | EnquiryReceipt


class Converted(BaseModel):
    """An enquiry that became a complaint, and the case opened for it."""

    model_config = _example({"enquiry": {**ENQUIRY_EXAMPLE, "status": "converted",
                                         "case_number": "TS20260102-0001"},
                             "case": CASE_EXAMPLE})  # fmt: skip

    enquiry: EnquiryAnswer
    case: CaseAnswer


class FeedbackOut(BaseModel):
    """Praise (表扬) or a suggestion (建议) as the caller may see it."""

    model_config = _example({
        "feedback_number": "JY20260102-0001", "kind": "suggestion", "channel": "onsite",
        "category": "environment", "text": "候诊区座位不够", "department_code": "CARD",
        "staff_id": None, "recorded_by": "S-AGENT-01", "received_at": "2026-01-02T02:00:00Z",
        "answer": None, "outcome": None, "answered_by": None, "answered_at": None,
        "patient": None})  # fmt: skip

    feedback_number: str
    kind: str
    channel: str
    category: str
    text: str
    department_code: str | None
    staff_id: str | None
    recorded_by: str
    received_at: WireTime
    answer: str | None
    outcome: str | None
    answered_by: str | None
    answered_at: WireTime | None
    patient: ContactOut | None


class FeedbackReceipt(BaseModel):
    model_config = _example({"feedback_number": "JY20260102-0001", "redacted": True})

    feedback_number: str
    redacted: bool = True


FeedbackAnswer = FeedbackOut | FeedbackReceipt
