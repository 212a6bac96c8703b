"""Enquiry rules (咨询, 首问负责制): which limit applies, when it warns and breaches, which steps an
enquiry allows, and who sees and moves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from complaints.access import Actor
from complaints.enquiries import (
    EnquiryChannel,
    EnquiryRefused,
    EnquiryStatus,
    alert_levels,
    answered_in_time,
    can_view_enquiry,
    can_work_enquiry,
    check_step,
    deadline_for,
    default_limits,
    limit_for,
)
from complaints.settings import Settings

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
LIMITS = default_limits()


@pytest.mark.parametrize(
    ("channel", "complex_", "name", "span"),
    [
        (EnquiryChannel.PHONE, False, "answer", timedelta(hours=24)),
        (EnquiryChannel.ONLINE, False, "answer", timedelta(hours=24)),
        (EnquiryChannel.PHONE, True, "complex_answer", timedelta(hours=48)),
        (EnquiryChannel.ONLINE, True, "complex_answer", timedelta(hours=48)),
        (EnquiryChannel.ONSITE, False, "onsite_answer", timedelta(minutes=30)),
        (EnquiryChannel.ONSITE, True, "onsite_complex_answer", timedelta(hours=2)),
    ],
)
def test_the_manuals_limits_by_channel_and_complexity(
    channel: EnquiryChannel, complex_: bool, name: str, span: timedelta
) -> None:
    limit = limit_for(LIMITS, channel, complex_=complex_)
    assert limit.name == name
    due = deadline_for(limit, T0, warning_fraction=0.8)
    assert due.due_at - T0 == span
    assert due.warn_at - T0 == span * 0.8


def test_an_on_site_enquiry_warns_at_24_minutes_and_breaches_at_30() -> None:
    due = deadline_for(
        limit_for(LIMITS, EnquiryChannel.ONSITE, complex_=False), T0, warning_fraction=0.8
    )
    assert due.warn_at == T0 + timedelta(minutes=24)
    assert due.due_at == T0 + timedelta(minutes=30)


def test_limits_are_settings() -> None:
    settings = Settings(enquiry_onsite_minutes=15, enquiry_answer_hours=12)
    limits = settings.enquiry_limits()
    assert limit_for(limits, EnquiryChannel.ONSITE, complex_=False).minutes == 15
    assert limit_for(limits, EnquiryChannel.PHONE, complex_=False).minutes == 12 * 60
    assert limit_for(limits, EnquiryChannel.ONSITE, complex_=True).minutes == 120


def test_a_limit_table_without_the_channel_says_so() -> None:
    with pytest.raises(LookupError, match="onsite"):
        limit_for(LIMITS[:2], EnquiryChannel.ONSITE, complex_=False)


def test_alerts_owed_follow_the_clock_and_what_already_fired() -> None:
    warn, due = T0 + timedelta(minutes=24), T0 + timedelta(minutes=30)

    def owed(now: datetime, *, warned: bool = False, breached: bool = False) -> list[str]:
        return alert_levels(warn_at=warn, due_at=due, warned=warned, breached=breached, now=now)

    assert owed(T0 + timedelta(minutes=23)) == []
    assert owed(warn) == ["warning"]
    assert owed(due + timedelta(microseconds=1)) == ["warning", "breach"]
    assert owed(due + timedelta(seconds=1), warned=True) == ["breach"]
    assert owed(due + timedelta(hours=1), warned=True, breached=True) == []


def test_at_the_due_instant_an_enquiry_answerable_in_time_owes_no_breach() -> None:
    warn, due = T0 + timedelta(minutes=24), T0 + timedelta(minutes=30)
    assert answered_in_time(due, due)
    assert alert_levels(warn_at=warn, due_at=due, warned=True, breached=False, now=due) == []


def test_answered_in_time_up_to_and_including_the_due_time() -> None:
    assert answered_in_time(T0, T0)
    assert not answered_in_time(T0, T0 + timedelta(seconds=1))


@pytest.mark.parametrize("step", ["answer", "hand_over", "convert"])
def test_every_step_needs_an_open_enquiry(step: str) -> None:
    check_step(step, EnquiryStatus.OPEN)
    for done in (EnquiryStatus.ANSWERED, EnquiryStatus.CONVERTED):
        with pytest.raises(EnquiryRefused, match=done.value):
            check_step(step, done)


ENQUIRY: dict[str, Any] = {
    "taken_by": "S-AGENT-01",
    "owner_id": "S-AGENT-02",
    "supervisor_id": "S-SUP-01",
    "department_code": "CARD",
    "owner_department": "CS",
}
TAKER = Actor("S-AGENT-01", "agent", "CS")
OWNER = Actor("S-AGENT-02", "agent", "CS")
STRANGER = Actor("S-AGENT-03", "agent", "CS")
CS_SUPERVISOR = Actor("S-SUP-09", "supervisor", "CS")
CARD_SUPERVISOR = Actor("S-SUP-02", "supervisor", "CARD")
ORTH_SUPERVISOR = Actor("S-SUP-03", "supervisor", "ORTH")
ADMIN = Actor("S-ADMIN-01", "admin")
HIS = Actor("integration:HIS", "integration")


def test_the_owner_sees_and_moves_it_and_the_first_taker_still_sees_it() -> None:
    assert can_view_enquiry(OWNER, ENQUIRY) and can_work_enquiry(OWNER, ENQUIRY)
    assert can_view_enquiry(TAKER, ENQUIRY) and not can_work_enquiry(TAKER, ENQUIRY)
    assert not can_view_enquiry(STRANGER, ENQUIRY) and not can_work_enquiry(STRANGER, ENQUIRY)


def test_supervisors_of_the_department_asked_about_or_owning_it_see_and_move_it() -> None:
    for supervisor in (CS_SUPERVISOR, CARD_SUPERVISOR):
        assert can_view_enquiry(supervisor, ENQUIRY) and can_work_enquiry(supervisor, ENQUIRY)
    assert not can_view_enquiry(ORTH_SUPERVISOR, ENQUIRY)
    assert can_work_enquiry(Actor("S-SUP-01", "supervisor", "ORTH"), ENQUIRY)  # its supervisor


def test_operations_read_everything_and_move_nothing_hospital_systems_read_nothing() -> None:
    assert can_view_enquiry(ADMIN, ENQUIRY) and not can_work_enquiry(ADMIN, ENQUIRY)
    assert not can_view_enquiry(HIS, ENQUIRY) and not can_work_enquiry(HIS, ENQUIRY)


def test_the_clock_compares_times_by_value_before_and_after_the_due_time() -> None:
    """Times read from the database are new objects: an answer before the due time is in time,
    and a breach is owed any time after it (`is` survived mutation)."""
    due = T0 + timedelta(minutes=30)
    assert answered_in_time(due, T0 + timedelta(minutes=10))
    assert answered_in_time(due, T0 + timedelta(minutes=30, seconds=0))
    later = due + timedelta(minutes=1)
    assert alert_levels(warn_at=T0, due_at=due, warned=True, breached=False, now=later) == [
        "breach"
    ]


def test_a_role_read_from_a_token_is_compared_by_value() -> None:
    """Roles come from settings and tokens as new strings, not interned literals."""
    supervisor = Actor("S-SUP-02", "".join(["super", "visor"]), "CARD")
    assert can_view_enquiry(supervisor, ENQUIRY) and can_work_enquiry(supervisor, ENQUIRY)


def test_the_limit_is_matched_on_complexity_whatever_the_order_of_the_table() -> None:
    for table in (LIMITS, tuple(reversed(LIMITS))):
        for complex_ in (False, True):
            for channel in EnquiryChannel:
                assert limit_for(table, channel, complex_=complex_).complex_ is complex_


def test_an_admin_role_and_an_owner_id_read_from_a_token_are_compared_by_value() -> None:
    admin = Actor("S-ADMIN-01", "".join(["ad", "min"]))
    assert can_view_enquiry(admin, ENQUIRY) and not can_work_enquiry(admin, ENQUIRY)
    owner = Actor("".join(["S-AGENT-", "02"]), "agent", "CS")
    assert can_work_enquiry(owner, ENQUIRY)
