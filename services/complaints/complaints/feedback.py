"""Praise (表扬) and suggestions (建议), as pure rules: their own categories (data, editable in
settings) and the suggestion's answer and outcome.

Feedback comes in on every channel complaints do. Praise is passed to the department of the
staff member praised (its supervisor is told); a suggestion gets an answer and an outcome,
adopted or not, once.
"""

from __future__ import annotations

# The contract's kinds (feedback.submitted), one vocabulary for the REST route and the event.
from hospital_shared.events import FeedbackKind as FeedbackKind
from hospital_shared.vocabulary import FEEDBACK_OTHER, PRAISE_CATEGORIES, SUGGESTION_CATEGORIES
from hospital_shared.vocabulary import SuggestionOutcome as SuggestionOutcome

# The categories a new installation starts with (COMPLAINTS_PRAISE_CATEGORIES,
# COMPLAINTS_SUGGESTION_CATEGORIES): the shared vocabulary's, which the console offers.
DEFAULT_PRAISE_CATEGORIES = PRAISE_CATEGORIES
DEFAULT_SUGGESTION_CATEGORIES = SUGGESTION_CATEGORIES
OTHER = FEEDBACK_OTHER


class FeedbackRefused(Exception):
    """The request does not fit the feedback's kind or state (HTTP 409)."""


def category_of(submitted: str | None, allowed: tuple[str, ...]) -> str:
    """A known category is kept; anything else (or nothing) is filed as "other"."""
    return submitted if submitted in allowed else OTHER


def check_answer(kind: FeedbackKind, answered: bool) -> None:
    if kind is not FeedbackKind.SUGGESTION:
        raise FeedbackRefused("only a suggestion gets an answer and an outcome")
    if answered:
        raise FeedbackRefused("this suggestion has been answered already")
