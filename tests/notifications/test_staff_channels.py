"""Which channels a staff member gets, when a routine assignment waits for the digest, and
what the digest says."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from notifications.domain import QuietHours
from notifications.staff_policy import (
    StaffReach,
    StaffRules,
    channels_for,
    digest_context,
    next_digest_slot,
    plan_deliveries,
    subject_of,
)
from notifications.templates import DEFAULTS_BY_NAME, render

SH = ZoneInfo("Asia/Shanghai")
RULES = StaffRules(tz=SH, quiet_hours=QuietHours(time(21), time(8)), email_enabled=True)
MORNING = datetime(2026, 11, 23, 10, 0, tzinfo=SH)


def plan(reach: StaffReach, template: str = "staff_task_assigned", **kw):  # type: ignore[no-untyped-def]
    args = {"urgent": False, "due_at": MORNING, "act_by": None, "rules": RULES} | kw
    return {d.channel: d for d in plan_deliveries(reach, template=template, **args)}


def test_by_default_a_member_gets_inbox_and_sms_plus_email_and_webhook_where_configured() -> None:
    assert [c for c, _ in channels_for(StaffReach(), RULES)] == ["inbox", "sms"]
    full = StaffReach(email="li@hospital.example", has_webhook=True)
    assert [c for c, _ in channels_for(full, RULES)] == ["inbox", "sms", "email", "webhook"]
    no_smtp = StaffRules(tz=SH, quiet_hours=QuietHours(), email_enabled=False)
    assert [c for c, _ in channels_for(full, no_smtp)] == ["inbox", "sms", "webhook"]


def test_a_chosen_channel_that_cannot_be_used_is_kept_with_the_reason() -> None:
    chosen = StaffReach(channels=("email",))
    assert channels_for(chosen, RULES) == [("inbox", None), ("email", "no email address on file")]
    deliveries = plan(chosen)
    assert deliveries["email"].unreachable == "no email address on file"
    assert "sms" not in deliveries  # their choice replaces the defaults


def test_the_next_digest_slot_is_the_next_local_digest_time() -> None:
    times = (time(8, 30),)
    assert next_digest_slot(MORNING, times, SH) == datetime(2026, 11, 24, 8, 30, tzinfo=SH)
    early = datetime(2026, 11, 23, 7, 0, tzinfo=SH)
    assert next_digest_slot(early, times, SH) == datetime(2026, 11, 23, 8, 30, tzinfo=SH)
    twice = (time(13, 30), time(8, 30))
    assert next_digest_slot(MORNING, twice, SH) == datetime(2026, 11, 23, 13, 30, tzinfo=SH)
    exactly = datetime(2026, 11, 23, 8, 30, tzinfo=SH)
    assert next_digest_slot(exactly, times, SH) == exactly + timedelta(days=1)


def test_a_routine_assignment_waits_for_the_digest_on_push_channels_but_not_in_the_inbox() -> None:
    d = plan(StaffReach(email="li@hospital.example"))
    slot = datetime(2026, 11, 24, 8, 30, tzinfo=SH)
    assert (d["sms"].digest_slot, d["sms"].send_after, d["sms"].deferred_reason) == (
        slot,
        slot,
        "digest",
    )
    assert d["email"].digest_slot == slot
    assert d["inbox"].digest_slot is None and d["inbox"].send_after == MORNING


def test_a_breach_never_waits_for_the_digest_nor_for_quiet_hours() -> None:
    night = datetime(2026, 11, 23, 23, 0, tzinfo=SH)
    d = plan(StaffReach(), "staff_case_time_limit_breach", urgent=True, due_at=night)
    assert d["sms"].digest_slot is None and d["sms"].send_after == night


def test_work_due_before_the_digest_is_sent_at_once() -> None:
    d = plan(StaffReach(), act_by=MORNING + timedelta(hours=6))
    assert d["sms"].digest_slot is None and d["sms"].send_after == MORNING


def test_quiet_hours_hold_sms_but_not_email_outside_the_digest() -> None:
    night = datetime(2026, 11, 23, 22, 0, tzinfo=SH)
    d = plan(StaffReach(email="li@hospital.example"), "staff_task_overdue", due_at=night)
    assert d["sms"].send_after == datetime(2026, 11, 24, 8, 0, tzinfo=SH)
    assert d["sms"].deferred_reason == "quiet_hours"
    assert d["email"].send_after == night and d["email"].deferred_reason is None


def test_digest_is_per_channel_and_per_member() -> None:
    rules = StaffRules(
        tz=SH,
        quiet_hours=QuietHours(),
        email_enabled=True,
        digest_channels=frozenset({"email"}),
        digest_times_by_channel={"email": (time(12, 0),)},
    )
    reach = StaffReach(email="li@hospital.example")
    d = plan(reach, rules=rules)
    assert d["sms"].digest_slot is None
    assert d["email"].digest_slot == datetime(2026, 11, 23, 12, 0, tzinfo=SH)
    opted_out = plan(StaffReach(email="li@hospital.example", digest=False), rules=rules)
    assert opted_out["email"].digest_slot is None
    opted_in = plan(StaffReach(digest=True), rules=rules)
    assert opted_in["sms"].digest_slot == datetime(2026, 11, 24, 8, 30, tzinfo=SH)


def test_the_digest_lists_the_notes_without_their_tags_and_counts_the_rest() -> None:
    bodies = [
        f"【回访任务】您有新的回访任务T-{i}（出院回访），请于11月24日 17:00前完成。"
        for i in range(3)
    ]
    context = digest_context(bodies, max_items=2)
    assert context["count"] == 3 and context["more"] == 1
    text = render(DEFAULTS_BY_NAME["staff_digest"].body, context)
    assert text.startswith("【待办汇总】您有3项")
    assert "1. 您有新的回访任务T-0" in text and "T-2" not in text and "另有1项" in text
    assert subject_of(bodies[0], "x") == "回访任务"
