"""Praise and suggestion rules (表扬、建议): their own categories, one answer per suggestion,
and who sees them."""

from __future__ import annotations

from typing import Any

import pytest

from complaints.access import Actor
from complaints.feedback import (
    DEFAULT_PRAISE_CATEGORIES,
    DEFAULT_SUGGESTION_CATEGORIES,
    FeedbackKind,
    FeedbackRefused,
    category_of,
    check_answer,
)
from complaints.feedback_cases import can_view_feedback
from complaints.settings import Settings


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
