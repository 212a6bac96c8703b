"""Who reads a case's text when it is confidential (保密), who reads accountability
(处罚直接责任者), and what the director sees."""

from __future__ import annotations

from typing import Any

import pytest

from complaints.access import (
    Actor,
    can_read_accountability,
    can_read_text,
    can_view,
    can_work,
    contact_for,
    visibility,
)
from complaints.views import withhold_notes, withhold_text

CASE: dict[str, Any] = {
    "assignee_id": "S-DOC-01",
    "supervisor_id": "S-SUP-02",
    "director_id": None,
    "department_code": "CARD",
    "handling_department": "CARD",
    "confidentiality": "normal",
    "patient_id": "P1",
    "patient_name": "张三丰",
    "patient_phone": "13800138000",
    "sms_opt_out": False,
}
SECRET = CASE | {"confidentiality": "confidential"}

HANDLER = Actor("S-DOC-01", "doctor", "CARD")
CASE_SUPERVISOR = Actor("S-SUP-02", "supervisor", "CARD")
DEPT_SUPERVISOR = Actor("S-SUP-09", "supervisor", "CARD")  # the department's, not the case's
DESK_AGENT = Actor("S-AGENT-01", "agent", "CS")
ADMIN = Actor("S-ADMIN-01", "admin")
DIRECTOR = Actor("S-DIR-01", "director", "ADM")
HIS = Actor("integration:HIS", "integration")


def test_a_normal_case_is_read_by_whoever_may_see_it() -> None:
    for actor in (HANDLER, CASE_SUPERVISOR, DEPT_SUPERVISOR, ADMIN, DIRECTOR):
        assert can_read_text(actor, CASE), actor
    for actor in (DESK_AGENT, HIS):
        assert not can_read_text(actor, CASE), actor


def test_a_case_without_a_level_reads_as_normal() -> None:
    old = {k: v for k, v in CASE.items() if k != "confidentiality"}
    assert can_read_text(DEPT_SUPERVISOR, old)


def test_a_confidential_case_is_read_by_those_working_it_and_the_director_only() -> None:
    for actor in (HANDLER, CASE_SUPERVISOR, DIRECTOR):
        assert can_read_text(actor, SECRET), actor
    # They still follow it (its status, its clocks), without what it says.
    for actor in (DEPT_SUPERVISOR, ADMIN):
        assert can_view(actor, SECRET) and not can_read_text(actor, SECRET), actor
    assert not can_read_text(DESK_AGENT, SECRET)
    assert not can_read_text(HIS, SECRET)


def test_the_director_it_is_escalated_to_works_it_and_sees_the_patient() -> None:
    escalated = SECRET | {"director_id": "S-DIR-02"}
    other_director = Actor("S-DIR-02", "director", "MED")
    assert can_read_text(other_director, escalated)
    assert contact_for(other_director, escalated)["masked"] is False
    assert contact_for(DIRECTOR, escalated)["masked"] is True  # not the one it went to


def test_the_director_sees_and_works_every_case() -> None:
    assert visibility(DIRECTOR) is None
    assert can_view(DIRECTOR, CASE) and can_work(DIRECTOR, CASE)
    assert not can_work(ADMIN, CASE)  # operations read, never move


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [
        (CASE_SUPERVISOR, True),
        (DEPT_SUPERVISOR, True),
        (ADMIN, True),
        (DIRECTOR, True),
        (HANDLER, False),  # a colleague may be the one named
        (DESK_AGENT, False),
        (HIS, False),
        (Actor("S-SUP-03", "supervisor", "ORTH"), False),  # not a case they may see
    ],
)
def test_accountability_is_for_supervisors_the_director_and_operations(
    actor: Actor, allowed: bool
) -> None:
    assert can_read_accountability(actor, CASE) is allowed


def test_withholding_keeps_the_progress_and_drops_every_text() -> None:
    view = {
        "case_number": "TS-1",
        "status": "resolution_proposed",
        "description": "医生态度差",
        "resolution": "致歉",
        "validity": {"decision": "founded", "reason": "查实"},
        "escalation": {"director_id": "S-DIR-01", "reason": "重大"},
        "summary": {"text": "已处理", "signed_off_by": "S-SUP-01"},
    }
    shown = withhold_text(view)
    assert shown["status"] == "resolution_proposed" and shown["text_withheld"] is True
    assert shown["description"] is None and shown["resolution"] is None
    assert shown["validity"] == {"decision": "founded", "reason": None}
    assert shown["escalation"] == {"director_id": "S-DIR-01", "reason": None}
    assert shown["summary"] == {"text": None, "signed_off_by": "S-SUP-01"}
    assert view["description"] == "医生态度差"  # the original is untouched


def test_withheld_audit_lines_keep_who_and_when_but_not_the_notes() -> None:
    audit = [{"action": "transition", "detail": {"note": "患者说…", "resolution_kind": "refund"}}]
    assert withhold_notes(audit) == [
        {"action": "transition", "detail": {"resolution_kind": "refund"}}
    ]
