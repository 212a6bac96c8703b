from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from notifications.domain import (
    STAFF_INACTIVE,
    Defer,
    DueMessage,
    QuietHours,
    Send,
    SendingRules,
    Status,
    Stop,
    decide,
)

SH = ZoneInfo("Asia/Shanghai")
RULES = SendingRules(tz=SH, quiet_hours=QuietHours(time(21), time(8)), daily_cap=3)


def local(h: int, m: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, h, m, tzinfo=SH)


def due(**over: object) -> DueMessage:
    fields: dict[str, object] = {
        "audience": "patient",
        "urgent": False,
        "expires_at": None,
        "phone": "13800138000",
        "opted_out": False,
        "deceased": False,
        "send_to_deceased": False,
        "handed_today": 0,
    }
    fields.update(over)
    return DueMessage(**fields)  # type: ignore[arg-type]


def test_quiet_hours_wrap_midnight() -> None:
    q = QuietHours(time(21), time(8))
    assert q.contains(time(21)) and q.contains(time(23, 59)) and q.contains(time(7, 59))
    assert not q.contains(time(8)) and not q.contains(time(20, 59))


def test_evening_message_waits_until_eight_next_morning() -> None:
    assert QuietHours().next_allowed(local(22, 30), SH) == local(8, day=24)


def test_early_morning_message_waits_until_eight_the_same_day() -> None:
    assert QuietHours().next_allowed(local(6, 15), SH) == local(8)


def test_daytime_message_is_not_deferred() -> None:
    at = local(14)
    assert QuietHours().next_allowed(at, SH) == at


def test_quiet_hours_are_local_time_whatever_the_clock_zone() -> None:
    utc_evening = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
    assert QuietHours().next_allowed(utc_evening, SH) == local(8, day=24)


def test_the_dispatcher_defers_a_due_message_found_in_quiet_hours() -> None:
    assert decide(due(), local(23), RULES) == Defer(local(8, day=24), "quiet_hours")


def test_an_urgent_message_goes_in_quiet_hours() -> None:
    assert decide(due(urgent=True, audience="staff"), local(23), RULES) == Send("+8613800138000")


def test_the_daily_cap_defers_to_the_next_allowed_morning() -> None:
    assert decide(due(handed_today=3), local(10), RULES) == Defer(local(8, day=24), "daily_cap")
    assert decide(due(handed_today=2), local(10), RULES) == Send("+8613800138000")


def test_staff_messages_have_no_daily_cap() -> None:
    assert isinstance(decide(due(audience="staff", handed_today=9), local(10), RULES), Send)


def test_opted_out_and_deceased_patients_are_suppressed() -> None:
    assert decide(due(opted_out=True), local(10), RULES) == Stop(Status.SUPPRESSED, "opted_out")
    assert decide(due(deceased=True), local(10), RULES) == Stop(
        Status.SUPPRESSED, "patient_deceased"
    )
    assert isinstance(decide(due(deceased=True, send_to_deceased=True), local(10), RULES), Send)


def test_an_invalid_number_fails_with_the_reason() -> None:
    decision = decide(due(phone="12345"), local(10), RULES)
    assert isinstance(decision, Stop) and decision.status == Status.FAILED
    assert decision.reason.startswith("invalid_phone")
    landline = decide(due(phone="+86 10 6552 9988"), local(10), RULES)
    assert isinstance(landline, Stop) and "mobile" in landline.reason
    missing = decide(due(phone=None), local(10), RULES)
    assert isinstance(missing, Stop) and "no phone number" in missing.reason


def test_a_message_past_its_time_expires() -> None:
    decision = decide(due(expires_at=local(9)), local(10), RULES)
    assert isinstance(decision, Stop) and decision.status == Status.EXPIRED


def test_a_staff_sms_to_someone_no_longer_active_is_suppressed() -> None:
    message = due(audience="staff", urgent=True, staff_inactive=True)
    assert decide(message, local(14), RULES) == Stop(Status.SUPPRESSED, STAFF_INACTIVE)
    assert decide(due(audience="staff", urgent=True), local(14), RULES) == Send("+8613800138000")


def test_an_opt_out_stops_every_patient_message_urgent_ones_included() -> None:
    """Quiet hours give way to urgency; a patient's opt-out never does, by day or night."""
    for urgent in (False, True):
        for at in (local(10), local(23)):
            message = due(opted_out=True, urgent=urgent)
            assert decide(message, at, RULES) == Stop(Status.SUPPRESSED, "opted_out")


def test_an_urgent_patient_message_skips_quiet_hours_and_the_daily_cap() -> None:
    message = due(urgent=True, handed_today=3)
    assert decide(message, local(23), RULES) == Send("+8613800138000")
    assert decide(due(handed_today=3, audience="staff"), local(23), RULES) == Defer(
        local(8, day=24), "quiet_hours"
    )
