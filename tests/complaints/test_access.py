"""Who sees which complaint, and whose contact details are masked."""

from __future__ import annotations

from typing import Any

from complaints.access import Actor, can_view, can_work, contact_for, opening_key, visibility

CASE: dict[str, Any] = {
    "assignee_id": "S-DOC-01",
    "supervisor_id": "S-SUP-01",
    "department_code": "CARD",
    "handling_department": "CARD",
    "patient_id": "P1",
    "patient_name": "张三丰",
    "patient_phone": "13800138000",
    "sms_opt_out": False,
}

HANDLER = Actor("S-DOC-01", "doctor", "CARD")
OTHER_AGENT = Actor("S-AGENT-01", "agent", "CS")
CASE_SUPERVISOR = Actor("S-SUP-01", "supervisor", "CS")
CARD_SUPERVISOR = Actor("S-SUP-02", "supervisor", "CARD")
OTHER_SUPERVISOR = Actor("S-SUP-03", "supervisor", "ORTH")
ADMIN = Actor("S-ADMIN-01", "admin")
HIS = Actor("integration:HIS", "integration")


def test_handlers_see_only_their_own_cases() -> None:
    assert can_view(HANDLER, CASE) and can_work(HANDLER, CASE)
    assert not can_view(OTHER_AGENT, CASE)
    assert visibility(OTHER_AGENT) == {"staff_id": "S-AGENT-01"}


def test_supervisors_see_their_department_and_their_escalations() -> None:
    assert can_view(CARD_SUPERVISOR, CASE) and can_work(CARD_SUPERVISOR, CASE)
    assert can_view(CASE_SUPERVISOR, CASE)
    assert not can_view(OTHER_SUPERVISOR, CASE)


def test_operations_read_everything_but_work_nothing() -> None:
    assert visibility(ADMIN) is None
    assert can_view(ADMIN, CASE) and not can_work(ADMIN, CASE)


def test_hospital_systems_do_not_read_complaints() -> None:
    assert not can_view(HIS, CASE)


def test_contact_details_are_clear_only_for_those_working_the_case() -> None:
    assert contact_for(HANDLER, CASE)["phone"] == "+8613800138000"  # E.164 on the wire
    assert contact_for(CASE_SUPERVISOR, CASE)["name"] == "张三丰"
    masked = contact_for(CARD_SUPERVISOR, CASE)
    assert (masked["name"], masked["phone"], masked["masked"]) == ("张**", "+86138****8000", True)
    assert contact_for(ADMIN, CASE)["phone"] == "+86138****8000"


def test_staff_open_cases_under_ids_of_their_own_and_systems_under_theirs() -> None:
    assert opening_key(HIS, "HIS-1001") == "HIS-1001"  # as its Kafka events
    assert opening_key(OTHER_AGENT, "HIS-1001") == "staff:S-AGENT-01:HIS-1001"
    assert opening_key(HANDLER, "HIS-1001") != opening_key(OTHER_AGENT, "HIS-1001")
