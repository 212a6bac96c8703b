"""Staff notices about enquiries and praise: an escalation goes to the enquiry's supervisor at
once, a warning too, praise to the supervisor of the department praised; never the text."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hospital_shared.service_events.enquiries import (
    EnquiryChanged,
    EnquiryTimeLimitReached,
    FeedbackReceived,
)
from notifications import enquiry_policy
from notifications.policy import PlanningRules
from notifications.templates import DEFAULTS_BY_NAME, SAMPLE_CONTEXT, render

SH = ZoneInfo("Asia/Shanghai")
RULES = PlanningRules(tz=SH, common={"hospital": "医院", "hotline": "12320", "survey_url": "u"})
NOW = datetime(2026, 12, 5, 10, 0, tzinfo=SH)


def alert(level: str, **over: Any) -> EnquiryTimeLimitReached:
    fields: dict[str, Any] = {
        "enquiry_number": "ZX-20261205-000001",
        "limit": "onsite_answer",
        "level": level,
        "starts_at": NOW - timedelta(minutes=30),
        "due_at": NOW,
        "channel": "onsite",
        "complex": False,
        "department_code": "CARD",
        "owner_id": "S-AGENT-01",
        "occurred_at": NOW,
    }
    return EnquiryTimeLimitReached(**(fields | over))


def test_an_escalation_goes_to_the_enquirys_supervisor_urgently() -> None:
    data = alert("breach", supervisor_id="S-SUP-01", supervisor_department="CS")
    (note,) = enquiry_policy.plan_enquiry_time_limit(data, "e1", NOW, RULES).messages
    assert note.template == "staff_enquiry_escalation"
    assert DEFAULTS_BY_NAME[note.template].urgent
    assert (note.staff_id, note.supervisor_of, note.key) == ("S-SUP-01", None, "e1")
    assert note.context["limit"] == "现场咨询（30分钟）"
    assert note.context["due"] == "12月05日 10:00"
    linked = PlanningRules(tz=SH, common=RULES.common, console_base_url="https://console.example")
    (note,) = enquiry_policy.plan_enquiry_time_limit(data, "e1", NOW, linked).messages
    text = render(DEFAULTS_BY_NAME[note.template].body, note.context)
    assert text.endswith("请立即处理。 https://console.example/enquiries/ZX-20261205-000001")


def test_without_a_named_supervisor_the_departments_supervisor_is_told() -> None:
    (warning,) = enquiry_policy.plan_enquiry_time_limit(alert("warning"), "e", NOW, RULES).messages
    assert warning.template == "staff_enquiry_time_limit_warning"
    assert (warning.staff_id, warning.supervisor_of) == (None, "CARD")
    desk = alert("warning", supervisor_department="CS")
    (note,) = enquiry_policy.plan_enquiry_time_limit(desk, "e", NOW, RULES).messages
    assert note.supervisor_of == "CS"


def handed_over(owner: str | None, actor: str) -> EnquiryChanged:
    return EnquiryChanged(
        enquiry_number="ZX-20261205-000002", status="open", channel="phone", complex=False,
        owner_id=owner, previous_owner_id="S-AGENT-01", taken_by="S-AGENT-01",
        limit="answer", starts_at=NOW, due_at=NOW + timedelta(hours=24), actor_id=actor,
        occurred_at=NOW,
    )  # fmt: skip


def test_the_colleague_an_enquiry_is_handed_to_is_told_with_its_page() -> None:
    """首问负责: the enquiry is theirs from the hand-over; before, nobody told them, and it sat
    until the supervisor's 80% warning."""
    data = handed_over("S-AGENT-02", "S-AGENT-01")
    (note,) = enquiry_policy.plan_enquiry_handed_over(data, "e2", NOW, RULES).messages
    assert (note.template, note.staff_id, note.key) == (
        "staff_enquiry_handed_over",
        "S-AGENT-02",
        "e2",
    )
    assert note.act_by == data.due_at
    text = render(DEFAULTS_BY_NAME[note.template].body, note.context)
    assert "ZX-20261205-000002" in text and "S-AGENT-01转交给您" in text
    assert "请于12月06日 10:00前答复" in text and "/enquiries/ZX-20261205-000002" not in text
    linked = PlanningRules(tz=SH, common=RULES.common, console_base_url="https://console.example")
    (note,) = enquiry_policy.plan_enquiry_handed_over(data, "e2", NOW, linked).messages
    assert "https://console.example/enquiries/ZX-20261205-000002" in render(
        DEFAULTS_BY_NAME[note.template].body, note.context
    )
    nobody = handed_over(None, "system:complaints")
    assert enquiry_policy.plan_enquiry_handed_over(nobody, "e", NOW, RULES).messages == ()
    to_self = handed_over("S-SUP-01", "S-SUP-01")
    assert enquiry_policy.plan_enquiry_handed_over(to_self, "e", NOW, RULES).messages == ()


def test_the_owner_is_not_told_when_a_hand_back_changed_only_the_supervisor() -> None:
    """The service gives an enquiry a new supervisor (its own made inactive) as
    `enquiry.handed_over` with the owner unchanged and no previous owner: before, its owner
    was told "已由system:complaints转交给您" of an enquiry that was theirs all along."""
    supervisor_left = handed_over("S-AGENT-02", "system:complaints").model_copy(
        update={"previous_owner_id": None, "actor_role": "system"}
    )
    assert enquiry_policy.plan_enquiry_handed_over(supervisor_left, "e", NOW, RULES).messages == ()
    # its owner made inactive: the one who takes it over is told
    owner_left = handed_over("S-AGENT-02", "system:complaints").model_copy(
        update={"actor_role": "system"}
    )
    (note,) = enquiry_policy.plan_enquiry_handed_over(owner_left, "e", NOW, RULES).messages
    assert note.staff_id == "S-AGENT-02"
    # the owner named as before and after: unchanged, nobody told
    same = owner_left.model_copy(update={"previous_owner_id": "S-AGENT-02"})
    assert enquiry_policy.plan_enquiry_handed_over(same, "e", NOW, RULES).messages == ()
    # a supervisor hands over one a hand-back left with nobody: the new owner is told
    ownerless = handed_over("S-AGENT-03", "S-SUP-01").model_copy(
        update={"previous_owner_id": None, "actor_role": "supervisor"}
    )
    (note,) = enquiry_policy.plan_enquiry_handed_over(ownerless, "e", NOW, RULES).messages
    assert note.staff_id == "S-AGENT-03"


def praise(department: str | None) -> FeedbackReceived:
    return FeedbackReceived(
        feedback_number="FKB-20261205-000001",
        kind="praise",
        channel="onsite",
        category="medical_skill",
        department_code=department,
        staff_id="S-DOC-01",
        recorded_by="S-AGENT-01",
        occurred_at=NOW,
    )


def test_praise_is_passed_to_the_supervisor_of_the_department_praised() -> None:
    (note,) = enquiry_policy.plan_praise(praise("CARD"), "e", NOW, RULES).messages
    assert (note.template, note.supervisor_of) == ("staff_praise_received", "CARD")
    assert note.context["category"] == "医术"
    assert enquiry_policy.plan_praise(praise(None), "e", NOW, RULES).messages == ()


def test_the_new_templates_render_with_the_sample_context() -> None:
    for name in (
        "staff_enquiry_escalation",
        "staff_enquiry_time_limit_warning",
        "staff_praise_received",
    ):
        text = render(DEFAULTS_BY_NAME[name].body, SAMPLE_CONTEXT)
        assert SAMPLE_CONTEXT.get("enquiry_number", "") in text or "FKB" in text
