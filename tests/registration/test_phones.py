from hypothesis import given, settings
from hypothesis import strategies as st

from hospital_shared.phones import plain_mobile
from registration.phones import PhoneCheck, normalise_phone, parse_phone


def test_chinese_mobiles_in_any_usual_form_become_e164() -> None:
    for raw in ("13800138000", "+86 138-0013-8000", "008613800138000", "(138) 0013 8000"):
        check = normalise_phone(raw)
        assert check.usable
        assert check.value == "+8613800138000"


def test_an_unusable_number_is_kept_as_received_and_flagged() -> None:
    for raw in ("12345", "not a phone", "010-12345678"):  # the last is a Beijing landline
        check = normalise_phone(raw)
        assert not check.usable
        assert check.value == raw
        assert check.status == "unusable"


def test_landlines_are_usable_when_not_only_mobiles_count() -> None:
    assert normalise_phone("010-12345678", mobile_only=False).value == "+861012345678"


@settings(max_examples=1000, deadline=None)
@given(
    st.from_regex(r"\A1[0-9]{10}\Z")
    | st.from_regex(r"\A[0-9]{5,13}\Z")
    | st.sampled_from(["13800138000", "17951380013", "12593800138", "14700000000"])
)
def test_the_quick_mobile_check_agrees_with_a_full_parse(number: str) -> None:
    quick = plain_mobile(number, "CN")
    if quick is not None:
        assert parse_phone(number, region="CN", mobile_only=True) == PhoneCheck(quick, usable=True)
