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


def test_quiet_hours_within_one_day_and_quiet_hours_switched_off() -> None:
    """A hospital may keep a midday rest (12:00-14:00) quiet, or set start == end for none."""
    midday = QuietHours(time(12), time(14))
    assert midday.contains(time(12)) and midday.contains(time(13, 59))
    assert not midday.contains(time(14)) and not midday.contains(time(11, 59))
    assert not midday.contains(time(23))
    assert midday.next_allowed(local(12, 30), SH) == local(14)
    assert midday.next_allowed(local(21), SH) == local(21)
    off = QuietHours(time(8), time(8))
    assert not off.contains(time(8)) and not off.contains(time(3))
    assert off.next_allowed(local(3), SH) == local(3)


def test_a_message_due_at_the_very_start_of_quiet_hours_waits() -> None:
    assert QuietHours().next_allowed(local(21), SH) == local(8, day=24)
    assert QuietHours().next_allowed(local(8), SH) == local(8)


def test_staff_and_logs_see_a_patient_number_masked() -> None:
    from hospital_shared.http_api import masked_phone as mask_phone

    assert mask_phone("+8613800138000") == "+86138****8000"
    assert mask_phone("+861234") == "****"  # too short to show any of it
    assert mask_phone(None) is None and mask_phone("") == ""


def test_the_daily_cap_waits_for_the_first_allowed_moment_of_the_next_local_day() -> None:
    """Asked at 00:30 Shanghai (16:30 UTC the day before), the cap still means today's local
    day: the message waits until tomorrow 08:00 local, not today's."""
    just_after_midnight = local(0, 30, day=24)
    rules = SendingRules(tz=SH, quiet_hours=QuietHours(time(0), time(0)), daily_cap=3)
    decision = decide(due(handed_today=3), just_after_midnight, rules)
    assert decision == Defer(local(0, day=25), "daily_cap")


def test_a_message_expires_at_its_expiry_not_a_minute_later() -> None:
    assert decide(due(expires_at=local(10)), local(10), RULES) == Stop(
        Status.EXPIRED, "its time passed before it could be sent"
    )
    assert decide(due(expires_at=local(10, 1)), local(10), RULES) == Send("+8613800138000")


def test_the_default_quiet_hours_are_nine_in_the_evening_to_eight_in_the_morning() -> None:
    assert QuietHours().contains(time(21)) and not QuietHours().contains(time(20, 59))


def test_the_local_day_runs_midnight_to_midnight_in_the_hospitals_zone() -> None:
    from notifications.domain import local_day_bounds

    utc_evening = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # 01:00 on the 24th in Shanghai
    assert local_day_bounds(utc_evening, SH) == (local(0, day=24), local(0, day=25))


def test_beyond_the_cap_and_for_patients_read_from_text_the_cap_still_holds() -> None:
    import json

    assert decide(due(handed_today=4), local(10), RULES) == Defer(local(8, day=24), "daily_cap")
    from_db = due(handed_today=3, audience=json.loads('"patient"'))
    assert decide(from_db, local(10), RULES) == Defer(local(8, day=24), "daily_cap")


def test_masking_shows_nothing_of_a_number_of_eight_characters_or_fewer() -> None:
    from hospital_shared.http_api import masked_phone as mask_phone

    assert mask_phone("+8612345") == "****"
    assert mask_phone("+86123456") == "+****3456"


def test_text_that_is_not_a_phone_number_at_all_fails_with_the_reason() -> None:
    decision = decide(due(phone="call the ward"), local(10), RULES)
    assert isinstance(decision, Stop) and decision.reason.startswith("invalid_phone: not a phone")


def test_an_sms_longer_than_the_gateway_sends_fails_as_too_long_and_is_never_handed_over() -> None:
    """Kannel sends the first `max-messages` parts of a longer SMS, answers that it took it,
    and later that it was delivered: the rest (a survey link, the last lines) never comes."""
    assert decide(due(segments=10), local(10), RULES) == Send("+8613800138000")
    decision = decide(due(segments=11, urgent=True), local(10), RULES)
    assert decision == Stop(Status.FAILED, "too_long: 11 segments, the gateway sends at most 10")
    tighter = SendingRules(tz=SH, quiet_hours=RULES.quiet_hours, daily_cap=3, max_segments=3)
    assert isinstance(decide(due(segments=4), local(10), tighter), Stop)
