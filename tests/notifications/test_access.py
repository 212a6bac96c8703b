"""Who may read which message, and what a complaint's message shows to whom."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from hospital_shared.auth import Principal, Role
from notifications.access import (
    listing_refusal,
    may_read,
    message_view,
    patient_history_refusal,
)
from notifications.views import MessageView

AGENT = Principal(role=Role.AGENT, staff_id="S-AGENT-01", department="CS")
DOCTOR = Principal(role=Role.DOCTOR, staff_id="S-DOC-01", department="CARD")
DESK = Principal(role=Role.SUPERVISOR, staff_id="S-SUP-01", department="CS")
WARD = Principal(role=Role.SUPERVISOR, staff_id="S-SUP-02", department="CARD")
ADMIN = Principal(role=Role.ADMIN, staff_id="S-ADMIN-01")


def message(template: str, *, staff_id: str | None = None) -> dict[str, Any]:
    """A message row: the columns the test names, None for every other."""
    row: dict[str, Any] = defaultdict(lambda: None)
    row |= {
        "id": "m1",
        "template": template,
        "audience": "staff" if staff_id else "patient",
        "channel": "sms",
        "patient_id": None if staff_id else "P1",
        "staff_id": staff_id,
        "status": "delivered",
        "body": "您的投诉已受理，案件编号TS-20261205-0001",
        "source_event_id": "e1",
        "subject_ref": "case:TS-20261205-0001",
        "to_number": "+8613800138000",
    }
    return row


def test_a_patients_history_is_for_supervisors_and_operations() -> None:
    """Messages and opt-outs alike (GET /v1/opt-outs applies `patient_history_refusal`)."""
    for who in (AGENT, DOCTOR):
        assert listing_refusal(who, patient_id="P1", staff_id=None)
        assert not may_read(who, message("appointment_reminder"))
        assert patient_history_refusal(who) == listing_refusal(who, patient_id="P1", staff_id=None)
    for who in (DESK, WARD, ADMIN):
        assert listing_refusal(who, patient_id="P1", staff_id=None) is None
        assert may_read(who, message("appointment_reminder"))
        assert patient_history_refusal(who) is None


def test_every_recipients_messages_in_a_status_are_for_supervisors_and_operations() -> None:
    """GET /v1/messages?status=... without an id: what waits for the gateway or failed during
    an outage, across patients: a patient history's rule."""
    for who in (AGENT, DOCTOR):
        assert listing_refusal(who, patient_id=None, staff_id=None) == patient_history_refusal(who)
    for who in (DESK, WARD, ADMIN):
        assert listing_refusal(who, patient_id=None, staff_id=None) is None


def test_staff_see_their_own_notes_only() -> None:
    assert listing_refusal(AGENT, patient_id=None, staff_id="S-AGENT-01") is None
    assert listing_refusal(AGENT, patient_id="P1", staff_id="S-AGENT-01") is None
    assert listing_refusal(AGENT, patient_id=None, staff_id="S-DOC-01")
    assert may_read(AGENT, message("staff_case_assigned", staff_id="S-AGENT-01"))
    assert not may_read(DOCTOR, message("staff_case_assigned", staff_id="S-AGENT-01"))


def test_a_complaint_shows_to_the_desk_operations_and_its_recipient_only() -> None:
    ack = message("complaint_acknowledgement")
    for who in (DESK, ADMIN):
        assert message_view(ack, who, desk_department="CS")["template"] == ack["template"]
    hidden = message_view(ack, WARD, desk_department="CS")
    assert (hidden["template"], hidden["source_event_id"]) == ("patient_notice", None)
    assert hidden["subject_ref"] is None  # the case number would say the patient complained
    assert "body" not in hidden
    note = message("staff_case_assigned", staff_id="S-AGENT-01")
    assert message_view(note, AGENT, desk_department="CS")["body"] == note["body"]
    assert message_view(note, WARD, desk_department="CS")["template"] == "staff_notice"


def test_other_messages_are_not_masked_and_numbers_are_for_operations() -> None:
    reminder = message("appointment_reminder")
    view = message_view(reminder, WARD, desk_department="CS")
    assert (view["template"], view["body"]) == ("appointment_reminder", reminder["body"])
    assert view["to_number"] == "+86138****8000"
    assert message_view(reminder, ADMIN, desk_department="CS")["to_number"] == "+8613800138000"


def test_a_note_says_what_it_is_about_so_the_console_can_link_to_it() -> None:
    note = message("staff_case_assigned", staff_id="S-AGENT-01")
    assert message_view(note, AGENT, desk_department="CS")["subject_ref"] == "case:TS-20261205-0001"


def test_a_message_failed_after_an_outage_shows_the_errors_the_gateway_answered() -> None:
    """`attempts` counts the hand-overs of an outage too; the cap (`send_max_attempts`) counts
    the errors the gateway answered (migration 420), which the answer shows apart."""
    failed = message("appointment_reminder")
    failed |= {"status": "failed", "attempts": 9, "answered_errors": 3, "urgent": False,
               "created_at": datetime(2026, 12, 5, 1, 30, tzinfo=UTC)}  # fmt: skip
    shown = MessageView.model_validate(message_view(failed, WARD, desk_department="CS"))
    assert (shown.attempts, shown.answered_errors) == (9, 3)
