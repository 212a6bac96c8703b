"""Which placeholders each template is given (templates.GIVEN): the mapping says what each
sender fills, checked here against the plans that fill it, and an edit may use only those.
Before, every template was offered (and accepted) every name any template has: the discharge
notice took `{{ case_number }}`, which its sender never gives, and failed at sending time."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from notifications import enquiry_policy, policy
from notifications.staff_policy import digest_context
from notifications.templates import (
    DEFAULT_TEMPLATES,
    GIVEN,
    PLACEHOLDERS,
    NotGiven,
    TemplateInvalid,
    check,
    placeholders_of,
)
from tests.notifications.test_policy import NOW, RULES, case, discharge, registration, unreachable


def _plans() -> list[policy.Plan]:
    task = SimpleNamespace(task_id="T1", kind="inpatient_discharge", due_at=NOW,
                           assignee_id="S-1", department_code="CARD")  # fmt: skip
    limit = SimpleNamespace(**dict(case("received")) | {
        "limit": "first_response", "due_at": NOW, "level": "warning", "supervisor_id": "S-2",
        "supervisor_department": None, "department_code": "CARD"})  # fmt: skip
    queue = SimpleNamespace(episode_id="E1", queue_id="Q1", queue_name="3号窗口", length=9,
                            limit=5, opened_at=NOW, department_code="CS")  # fmt: skip
    alert = SimpleNamespace(labels={"alertname": "Down"}, annotations={"summary": "s"},
                            startsAt=NOW, endsAt=None, status="firing", fingerprint="f")  # fmt: skip
    enquiry = SimpleNamespace(enquiry_number="ZX-1", limit="first_response", due_at=NOW,
                              level="breach", supervisor_id="S-2", supervisor_department=None,
                              department_code="CS")  # fmt: skip
    praise = SimpleNamespace(feedback_number="FKB-1", category="other", department_code="CS")
    escalated = case("investigating", director_id="S-DIR")
    breach = SimpleNamespace(**vars(limit) | {"level": "breach"})
    resolved = SimpleNamespace(**vars(alert) | {"status": "resolved"})
    warning = SimpleNamespace(**vars(enquiry) | {"level": "warning"})
    handed = SimpleNamespace(**vars(enquiry) | {"owner_id": "S-3", "previous_owner_id": "S-1",
                                                "actor_id": "S-1"})  # fmt: skip
    return [
        policy.plan_registration(registration(NOW + timedelta(days=2)), "e", NOW, RULES),
        policy.plan_discharge(discharge("home"), "e", RULES),  # type: ignore[arg-type]
        policy.plan_discharge(discharge("against_medical_advice"), "e", RULES),  # type: ignore[arg-type]
        policy.plan_unreachable(unreachable("inpatient_discharge"), "e", NOW, RULES),
        policy.plan_case_changed("complaint.case_opened", case("received"), NOW, RULES),
        policy.plan_case_changed("complaint.case_closed", case("closed"), NOW, RULES),
        policy.plan_case_changed("complaint.case_escalated", escalated, NOW, RULES),
        policy.plan_task_assigned(task, NOW, RULES),
        policy.plan_task_overdue(task, "e", NOW, RULES),
        policy.plan_time_limit(limit, "e", NOW, RULES),
        policy.plan_time_limit(breach, "e", NOW, RULES),
        policy.plan_queue_episode(queue, NOW, RULES),
        policy.plan_monitoring_alert(alert, "e", NOW, RULES),
        policy.plan_monitoring_alert(resolved, "resolved:x", NOW, RULES),
        enquiry_policy.plan_enquiry_time_limit(enquiry, "e", NOW, RULES),
        enquiry_policy.plan_enquiry_time_limit(warning, "e", NOW, RULES),
        enquiry_policy.plan_praise(praise, "e", NOW, RULES),
        enquiry_policy.plan_enquiry_handed_over(handed, "e", NOW, RULES),
    ]


def test_each_planned_message_is_given_exactly_what_the_mapping_says() -> None:
    planned = {m.template: set(m.context) for plan in _plans() for m in plan.messages}
    assert len(planned) >= 18
    for template, context in planned.items():
        assert context == GIVEN[template], template
    assert set(digest_context(["a"], 5)) == GIVEN["staff_digest"]


def test_every_default_template_uses_only_what_its_sender_gives() -> None:
    assert set(GIVEN) == {t.name for t in DEFAULT_TEMPLATES}
    assert set().union(*GIVEN.values()) == set(PLACEHOLDERS)
    for template in DEFAULT_TEMPLATES:
        assert check(template.body, template.name)


def test_a_placeholder_another_template_is_given_is_refused_naming_it() -> None:
    body = "【{{ hospital }}】您的案件{{ case_number }}已受理。"
    with pytest.raises(NotGiven) as refused:
        check(body, "discharge_safety_notice")
    assert refused.value.placeholder == "case_number"
    assert "'case_number'" in str(refused.value) and "department" in str(refused.value)
    assert (
        check(body, "complaint_acknowledgement")
        == "【市第一人民医院】您的案件TS-20261123-0007已受理。"
    )
    with pytest.raises(TemplateInvalid, match="'bed' is undefined"):  # unknown to every template
        check("{{ bed }}", "discharge_safety_notice")
    assert "case_number" not in placeholders_of("discharge_safety_notice")
    assert placeholders_of("discharge_safety_notice") == ("department", "hospital", "hotline",
                                                          "survey_url")  # fmt: skip


def test_no_patient_template_is_given_the_staff_consoles_link() -> None:
    """Before, the complaint acknowledgement and outcome were given a case's `link` (the staff
    console's `/cases/N`), so an edit could text the console's address to the complainant."""
    for template in DEFAULT_TEMPLATES:
        if template.audience == "patient":
            assert "link" not in GIVEN[template.name], template.name
    body = "【{{ hospital }}】您的投诉已受理，案件编号{{ case_number }}。{{ link }}"
    for name in ("complaint_acknowledgement", "complaint_outcome"):
        with pytest.raises(NotGiven) as refused:
            check(body, name)
        assert refused.value.placeholder == "link"
    assert "link" in GIVEN["staff_case_assigned"]  # staff keep their link to the case
