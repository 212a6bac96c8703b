"""Which messages a supervisor may resend: only what certainly did not reach the patient at a
click; what the gateway accepted, or may have, only by an explicit override."""

from __future__ import annotations

from datetime import UTC, datetime

from notifications.domain import GATEWAY_LOG_REFUSED, OUTCOME_UNKNOWN, resend_refusal

AT = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def test_what_never_left_may_be_resent() -> None:
    assert resend_refusal("failed", "invalid_phone: not a mobile", None, "sms") is None
    assert resend_refusal("failed", "gateway unavailable after 8 attempts", None, "sms") is None
    assert resend_refusal("failed", GATEWAY_LOG_REFUSED, None, "sms") is None
    assert resend_refusal("expired", "its time passed before it could be sent", None, "sms") is None
    # the operator reported it undelivered
    assert resend_refusal("failed", "DLR 2: undelivered", AT, "sms") is None


def test_an_outcome_unknown_is_refused_unless_overridden() -> None:
    refusal = resend_refusal("failed", OUTCOME_UNKNOWN, None, "sms")
    assert refusal is not None and refusal.overridable
    assert "may have sent" in refusal.why and "twice" in refusal.why


def test_an_accepted_message_whose_receipt_never_came_is_refused_unless_overridden() -> None:
    refusal = resend_refusal("expired", "no final delivery receipt", AT, "sms")
    assert refusal is not None and refusal.overridable
    assert "accepted" in refusal.why


def test_a_message_on_its_way_or_delivered_is_never_resent() -> None:
    for status in ("pending", "sending", "submitted", "delivered", "suppressed", "withdrawn"):
        refusal = resend_refusal(status, None, AT, "sms")
        assert refusal is not None and not refusal.overridable, status
    refusal = resend_refusal("failed", "x", None, "inbox")
    assert refusal is not None and not refusal.overridable


def test_a_staff_inbox_message_read_back_from_the_database_is_never_resent() -> None:
    """The channel comes from a database row, not from the literal in the code: an inbox
    message is refused by value."""
    channel = "".join(["in", "box"])  # a string equal to "inbox" but not the same object
    refusal = resend_refusal("failed", "x", None, channel)
    assert refusal is not None and not refusal.overridable


def test_a_failure_read_back_from_the_database_is_judged_by_its_reason_text() -> None:
    """The reason comes from a database row, not from the constant in the code: an
    outcome-unknown failure is refused by value, and a webhook that failed because it was not
    set up (a reason sorting after outcome_unknown) may go again."""
    unknown = "".join(["outcome", "_unknown"])  # equal to OUTCOME_UNKNOWN, another object
    refusal = resend_refusal("failed", unknown, None, "sms")
    assert refusal is not None and refusal.overridable
    assert resend_refusal("failed", "webhook is not set up", None, "webhook") is None


def test_a_failed_staff_email_may_go_again() -> None:
    """Only the inbox is never resent; an email that failed to leave may be."""
    assert resend_refusal("failed", "smtp unavailable", None, "email") is None
