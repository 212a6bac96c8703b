from registration.phones import normalise_phone


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
