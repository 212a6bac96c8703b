"""The rules of opening a case, shared by the desk (one case) and the consumer (a batch):
classification and priority, the new case's row, its clocks and its audit line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from complaints.access import Actor
from complaints.assignment import Assignment
from complaints.classifier import CategoryRule
from complaints.domain import Category
from complaints.handlers import complaint_from_event
from complaints.intake import (
    NewComplaint,
    assess,
    case_day,
    case_row,
    opened_audit,
    opening_deadlines,
)
from complaints.policy import CasePolicy, LimitName, default_rules
from complaints.repository import OPENING_COLUMNS
from hospital_shared.events import ComplaintSubmitted, envelope_of
from tests import factories as events

POLICY = CasePolicy(limit_rules=default_rules(), tz=ZoneInfo("Asia/Shanghai"))
RULES = [
    CategoryRule(1, Category.STAFF_ATTITUDE, "态度"),
    CategoryRule(2, Category.MEDICAL_QUALITY, "医疗事故", serious=True),
    CategoryRule(3, Category.REPORT_ERROR, "报告有误"),
]
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 11:00 in the hospital
ACTOR = Actor("system:urn:his:a", "integration")


def complaint(description: str, **over: object) -> NewComplaint:
    fields: dict[str, object] = {
        "channel": "online",
        "external_id": "HIS-1",
        "description": description,
        "submitted_at": NOW - timedelta(hours=2),
        "department_code": "CARD",
    }
    return NewComplaint(**(fields | over))  # type: ignore[arg-type]


def test_a_malpractice_complaint_is_serious_complex_and_urgent() -> None:
    a = assess(POLICY, RULES, complaint("家属认为是医疗事故"))
    assert (a.verdict.category, a.verdict.serious, a.complex_, a.priority.value) == (
        Category.MEDICAL_QUALITY,
        True,
        True,
        "urgent",
    )


def test_a_report_error_is_complex_and_high_and_the_submitter_can_say_otherwise() -> None:
    assert assess(POLICY, RULES, complaint("报告有误")).priority.value == "high"
    simple = assess(POLICY, RULES, complaint("报告有误", complex=False))
    assert (simple.complex_, simple.priority.value) == (False, "normal")


def test_the_row_carries_the_number_of_the_local_day_the_complaint_was_lodged() -> None:
    # 23:30 UTC on the 22nd is 07:30 on the 23rd in Shanghai.
    late = complaint("医生态度很差", submitted_at=datetime(2026, 11, 22, 23, 30, tzinfo=UTC))
    assessment = assess(POLICY, RULES, late)
    assignment = Assignment("S-DOC-01", "CARD", "S-SUP-01")
    row = case_row(POLICY, late, assessment, assignment, sequence=7, actor=ACTOR, now=NOW)
    assert set(row) == set(OPENING_COLUMNS)  # every column the bulk insert writes, no other
    assert row["case_number"] == "TS-20261123-0007"
    assert case_day(POLICY, late, NOW).isoformat() == "2026-11-23"
    assert (row["category"], row["matched_keyword"], row["status"]) == (
        "staff_attitude",
        "态度",
        "received",
    )
    assert (row["assignee_id"], row["handling_department"], row["supervisor_id"]) == (
        "S-DOC-01",
        "CARD",
        "S-SUP-01",
    )
    assert (row["opened_at"], row["opened_by"]) == (NOW, ACTOR.id)


def test_a_complaint_dated_in_the_future_starts_its_clocks_now() -> None:
    future = complaint("医生态度很差", submitted_at=NOW + timedelta(days=2))
    deadlines = opening_deadlines(POLICY, future, assess(POLICY, RULES, future), NOW)
    first = next(d for d in deadlines if d.name == LimitName.FIRST_RESPONSE)
    assert (first.starts_at, first.due_at) == (NOW, NOW + timedelta(hours=24))
    assert first.warn_at == NOW + timedelta(hours=24 * 0.8)
    assert case_day(POLICY, future, NOW).isoformat() == "2026-11-23"


def test_the_opened_audit_line_names_the_classification_and_the_people() -> None:
    case = {
        "id": 42,
        "classification": "rule #1 matched keyword '态度'",
        "assignee_id": "S-DOC-01",
        "supervisor_id": None,
    }
    entry = opened_audit(case, complaint("态度差"), actor=ACTOR, now=NOW)
    assert (entry.case_id, entry.action, entry.from_status, entry.to_status) == (
        42,
        "opened",
        None,
        "received",
    )
    assert entry.detail == {
        "channel": "online",
        "classification": "rule #1 matched keyword '态度'",
        "assignee_id": "S-DOC-01",
        "supervisor_id": None,
    }


def test_a_complaint_event_by_a_relative_opens_with_their_name_and_phone_and_no_patient_id() -> (
    None
):
    """`complaint.submitted` naming a relative (no patient id) becomes the same complaint as
    the desk records for one: the name, and the phone the acknowledgement goes to."""
    raw = events.complaint("HIS-REL", patient={"name": "陈静", "phone": "13912345678"})
    event = envelope_of(ComplaintSubmitted).model_validate(raw)
    new = complaint_from_event(event)
    assert (new.patient_id, new.patient_name, new.patient_phone) == (None, "陈静", "13912345678")
    assigned = Assignment("S-DOC-01", "CARD", "S-SUP-01")
    verdict = assess(POLICY, RULES, new)
    row = case_row(POLICY, new, verdict, assigned, sequence=1, actor=ACTOR, now=NOW)
    assert (row["patient_id"], row["patient_name"], row["patient_phone"]) == (
        None, "陈静", "13912345678",
    )  # fmt: skip
