"""Notifications' phone check: the everyday numbers are recognised without a full parse
(`hospital_shared.phones`), and the answer is the full parse's for every input, the reason of
a refusal included."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifications.domain import InvalidPhone, normalise_phone, parsed_phone


def _outcome(check, raw: str) -> str:  # type: ignore[no-untyped-def]
    try:
        return str(check(raw, "CN"))
    except InvalidPhone as exc:
        return f"refused: {exc}"


_NATIONAL = st.from_regex(r"\A1[0-9]{10}\Z") | st.from_regex(r"\A[0-9]{5,13}\Z")


_AWKWARD = [
    "+8613800138000", "13800138000", "+86 138 0013 8000", "+8617951380013", "17951380013",
    "+8612593800138", "+8614700000000", "+861012345678", "01012345678", "+447911123456",
    "+8613800138000x12", "+860138001380", "+86", "+",
]  # fmt: skip


@settings(max_examples=2000, deadline=None)
@given(
    _NATIONAL
    | _NATIONAL.map(lambda n: f"+86{n}")
    | _NATIONAL.map(lambda n: f"+86{n} ")
    | st.from_regex(r"\A\+[0-9]{6,15}\Z")
    | st.sampled_from(_AWKWARD)
)
def test_the_quick_check_gives_the_full_parses_answer(raw: str) -> None:
    assert _outcome(normalise_phone, raw) == _outcome(parsed_phone, raw)


@pytest.mark.parametrize("raw", ["+8613800138000", "13800138000"])
def test_a_chinese_mobile_is_e164(raw: str) -> None:
    assert normalise_phone(raw) == "+8613800138000"
