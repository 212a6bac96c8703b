"""Praise and suggestion rules (表扬、建议): their own categories, one answer per suggestion,
and who sees them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from complaints.access import Actor
from complaints.feedback import (
    DEFAULT_PRAISE_CATEGORIES,
    DEFAULT_SUGGESTION_CATEGORIES,
    FeedbackKind,
    FeedbackRefused,
    category_of,
    check_answer,
)
from complaints.feedback_cases import NewFeedback, can_view_feedback
from complaints.handlers import feedback_from_event
from complaints.settings import Settings
from hospital_shared.events import FeedbackSubmitted, envelope_of


def test_a_known_category_is_kept_anything_else_is_other() -> None:
    assert category_of("medical_skill", DEFAULT_PRAISE_CATEGORIES) == "medical_skill"
    assert category_of("medical_skill", DEFAULT_SUGGESTION_CATEGORIES) == "other"
    assert category_of(None, DEFAULT_SUGGESTION_CATEGORIES) == "other"
    assert category_of("=HYPERLINK()", DEFAULT_PRAISE_CATEGORIES) == "other"


def test_categories_are_settings() -> None:
    settings = Settings(praise_categories=["kindness"], suggestion_categories=["parking"])
    assert settings.praise_categories == ["kindness"]
    assert Settings().suggestion_categories == list(DEFAULT_SUGGESTION_CATEGORIES)


def test_only_a_suggestion_is_answered_and_only_once() -> None:
    check_answer(FeedbackKind.SUGGESTION, answered=False)
    with pytest.raises(FeedbackRefused, match="answered already"):
        check_answer(FeedbackKind.SUGGESTION, answered=True)
    with pytest.raises(FeedbackRefused, match="only a suggestion"):
        check_answer(FeedbackKind.PRAISE, answered=False)


PRAISE: dict[str, Any] = {
    "recorded_by": "S-AGENT-01",
    "staff_id": "S-DOC-01",
    "department_code": "CARD",
}


def test_feedback_is_seen_by_who_recorded_it_who_was_praised_their_supervisor_and_admin() -> None:
    assert can_view_feedback(Actor("S-AGENT-01", "agent", "CS"), PRAISE)
    assert can_view_feedback(Actor("S-DOC-01", "doctor", "CARD"), PRAISE)
    assert can_view_feedback(Actor("S-SUP-02", "supervisor", "CARD"), PRAISE)
    assert can_view_feedback(Actor("S-ADMIN-01", "admin"), PRAISE)
    assert not can_view_feedback(Actor("S-SUP-01", "supervisor", "CS"), PRAISE)
    assert not can_view_feedback(Actor("S-AGENT-09", "agent", "CARD"), PRAISE)
    assert not can_view_feedback(Actor("integration:HIS", "integration"), PRAISE)


def _submitted(**over: Any) -> Any:
    data = {
        "external_id": "F-1",
        "kind": "praise",
        "channel": "suggestion_box",
        "patient": {"patient_id": "P-1", "name": "王五", "phone": "13700137000"},
        "staff_id": "N-0042",
        "category": "nursing_care",
        "text": " 夜班护士耐心细致 ",
        "submitted_at": "2026-03-02T11:20:00+08:00",
        **over,
    }
    return envelope_of(FeedbackSubmitted).model_validate(
        {
            "specversion": "1.0",
            "id": "e-1",
            "source": "urn:crm",
            "type": "feedback.submitted",
            "time": "2026-03-02T11:21:00+08:00",
            "data": data,
        }
    )


def test_a_feedback_event_maps_to_the_feedback_the_rest_route_records() -> None:
    new = feedback_from_event(_submitted())
    assert new == NewFeedback(
        kind=FeedbackKind.PRAISE,
        channel="suggestion_box",
        text="夜班护士耐心细致",
        received_at=datetime(2026, 3, 2, 11, 20, tzinfo=timezone(timedelta(hours=8))),
        category="nursing_care",
        department_code=None,  # the praised staff member's department, from the roster
        staff_id="N-0042",
        patient_id="P-1",
        patient_name="王五",
        patient_phone="13700137000",
        external_id="F-1",
    )
    anonymous = feedback_from_event(
        _submitted(kind="suggestion", patient=None, department={"code": "CARD", "name": "心内科"})
    )
    assert anonymous.kind is FeedbackKind.SUGGESTION and anonymous.patient_id is None
    assert anonymous.department_code == "CARD"


def test_praise_from_a_relative_without_a_patient_id_keeps_their_name_and_phone() -> None:
    relative = feedback_from_event(_submitted(patient={"name": "陈静", "phone": "13912345678"}))
    assert (relative.patient_id, relative.patient_name, relative.patient_phone) == (
        None, "陈静", "13912345678",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value"),
    [("kind", "complaint"), ("channel", "fax"), ("text", "  "), ("external_id", "")],
)
def test_a_feedback_event_that_does_not_fit_the_contract_is_refused_naming_the_field(
    field: str, value: Any
) -> None:
    with pytest.raises(ValidationError) as refused:
        _submitted(**{field: value})
    assert refused.value.errors()[0]["loc"][-1] == field
