"""Staff notices about enquiries (咨询) and praise (表扬), as pure plans.

An enquiry's warning (80%) and breach (100%, the escalation) go to its supervisor, like a
complaint's; praise goes to the supervisor of the praised staff member's department, who
passes it on. Neither carries the enquiry's or the praise's text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hospital_shared.vocabulary import EnquiryLimit, LimitLevel
from notifications.policy import Plan, Planned, PlanningRules

# The actor role of the steps the complaints service takes itself (its hand-backs).
SYSTEM_ROLE = "system"

ENQUIRY_LIMIT_LABELS = {
    EnquiryLimit.ANSWER: "咨询答复（24小时）",
    EnquiryLimit.COMPLEX_ANSWER: "复杂咨询答复（48小时）",
    EnquiryLimit.ONSITE_ANSWER: "现场咨询（30分钟）",
    EnquiryLimit.ONSITE_COMPLEX_ANSWER: "现场复杂咨询（2小时）",
}
PRAISE_CATEGORY_LABELS = {
    "service_attitude": "服务态度",
    "medical_skill": "医术",
    "nursing_care": "护理",
    "guidance": "导诊",
    "responsiveness": "响应及时",
    "other": "其他",
}


def _enquiry_context(data: Any, rules: PlanningRules) -> dict[str, Any]:
    """What every note about an enquiry says: its number, its limit, when it is due, and its
    page on the console (blank when no console is set)."""
    return {
        **rules.common,
        "enquiry_number": data.enquiry_number,
        "limit": ENQUIRY_LIMIT_LABELS.get(data.limit, data.limit),
        "due": rules.local(data.due_at),
        "link": rules.console_link(f"/enquiries/{data.enquiry_number}"),
    }


def plan_enquiry_time_limit(data: Any, event_id: str, now: datetime, rules: PlanningRules) -> Plan:
    """enquiry.time_limit_warning | enquiry.time_limit_breached: to the enquiry's supervisor,
    else the supervisor of its department; once per event (the key is the event id)."""
    breach = data.level == LimitLevel.BREACH
    note = Planned(
        "staff_enquiry_escalation" if breach else "staff_enquiry_time_limit_warning",
        key=event_id,
        due_at=now,
        expires_at=None,
        subject_ref=f"enquiry:{data.enquiry_number}",
        context=_enquiry_context(data, rules),
        staff_id=data.supervisor_id,
        supervisor_of=None
        if data.supervisor_id
        else (data.supervisor_department or data.department_code),
    )
    return Plan(messages=(note,))


def owner_changed(data: Any) -> bool:
    """Whether an `enquiry.handed_over` gave the enquiry a new owner. The service's hand-back
    (a member made inactive, or given a role that may not hold it) announces a new supervisor
    alone the same way, naming no previous owner: a step by the system without one changed
    only the supervisor. A colleague's hand-over of an enquiry nobody owned (one a hand-back
    found nobody for) names none either, and does give it an owner."""
    if data.previous_owner_id is None:
        return bool(data.owner_id) and data.actor_role != SYSTEM_ROLE
    return bool(data.previous_owner_id != data.owner_id)


def plan_enquiry_handed_over(data: Any, event_id: str, now: datetime, rules: PlanningRules) -> Plan:
    """enquiry.handed_over: the new owner hears at once that the enquiry is theirs now, with
    its due time and its page (a colleague's hand-over, or the service's when its owner left).
    Nothing when nobody took it over (its supervisors see it), the owner handed it to
    themselves, or only its supervisor changed (`owner_changed`)."""
    owner = data.owner_id
    if not owner or owner == data.actor_id or not owner_changed(data):
        return Plan()
    note = Planned(
        "staff_enquiry_handed_over",
        key=event_id,
        due_at=now,
        expires_at=None,
        subject_ref=f"enquiry:{data.enquiry_number}",
        context=_enquiry_context(data, rules)
        | {"from_staff": data.previous_owner_id or data.actor_id or ""},
        staff_id=owner,
        act_by=data.due_at,
    )
    return Plan(messages=(note,))


def plan_praise(data: Any, event_id: str, now: datetime, rules: PlanningRules) -> Plan:
    """feedback.praise_received: to the supervisor of the department praised (none known: no
    notice; the praise is still counted and listed)."""
    if not data.department_code:
        return Plan()
    note = Planned(
        "staff_praise_received",
        key=event_id,
        due_at=now,
        expires_at=None,
        subject_ref=f"feedback:{data.feedback_number}",
        context={
            **rules.common,
            "feedback_number": data.feedback_number,
            "category": PRAISE_CATEGORY_LABELS.get(data.category, data.category),
        },
        supervisor_of=data.department_code,
    )
    return Plan(messages=(note,))
