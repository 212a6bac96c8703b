"""The everyday phone number without a full `phonenumbers` parse: a bare national mobile
number (for China `13800138000`), checked against the same phonenumbers metadata. Registration
normalises what the HIS sends with it; notifications checks the numbers it is given again
(E.164 from registration, anything from the other sources) with it. A number it does not
recognise (None) is parsed in full by the caller: the answer is the same either way
(tests/registration/test_phones.py, tests/notifications/test_phones.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from phonenumbers import PhoneMetadata


@dataclass(frozen=True, slots=True)
class _MobileRule:
    country_code: int
    lengths: frozenset[int]
    general: re.Pattern[str]
    mobile: re.Pattern[str]
    prefix: re.Pattern[str]  # national prefix / carrier code phonenumbers would strip


@cache
def _mobile_rule(region: str) -> _MobileRule | None:
    meta = PhoneMetadata.metadata_for_region(region)
    desc = meta.mobile if meta is not None else None
    general = meta.general_desc if meta is not None else None
    if meta is None or desc is None or general is None:
        return None
    if not desc.national_number_pattern or not desc.possible_length:
        return None
    return _MobileRule(
        meta.country_code or 0,
        frozenset(desc.possible_length),
        re.compile(general.national_number_pattern or "(?!)"),
        re.compile(desc.national_number_pattern),
        re.compile(meta.national_prefix_for_parsing or "(?!)"),
    )


def plain_mobile(text: str, region: str) -> str | None:
    """E.164 of `text` when it is a bare national mobile number of `region`; None: parse it
    fully (anything else, including a valid number in another form)."""
    rule = _mobile_rule(region)
    if (
        rule is None
        or not (text.isascii() and text.isdigit())
        or text[0] == "0"
        or len(text) not in rule.lengths
        or rule.prefix.match(text)
        or not rule.general.fullmatch(text)
        or not rule.mobile.fullmatch(text)
    ):
        return None
    return f"+{rule.country_code}{text}"


def e164_mobile(text: str, region: str) -> str | None:
    """`text` itself when it is already the E.164 form `plain_mobile` gives (`+86` and a
    national mobile number, for China); None: parse it fully."""
    rule = _mobile_rule(region)
    if rule is None or not text.startswith(f"+{rule.country_code}"):
        return None
    national = text[len(str(rule.country_code)) + 1 :]
    return text if plain_mobile(national, region) == text else None


def everyday_mobile(text: str, region: str) -> str | None:
    """E.164 of a mobile number in either everyday form (`e164_mobile`, `plain_mobile`);
    None: parse it fully."""
    return e164_mobile(text, region) or plain_mobile(text, region)
