"""Phone numbers as hospital systems send them, normalised to E.164 with `phonenumbers`.

A number that cannot take an SMS (unparseable, invalid, a landline when only mobiles are
usable) is kept exactly as received and flagged: it never rejects the visit it came with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat, PhoneNumberType

_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


@dataclass(frozen=True, slots=True)
class PhoneCheck:
    value: str  # E.164 when usable, else the number as received
    usable: bool

    @property
    def status(self) -> str:
        return "valid" if self.usable else "unusable"


@lru_cache(maxsize=65_536)  # patients come back; the same number is checked again and again
def normalise_phone(raw: str, *, region: str = "CN", mobile_only: bool = True) -> PhoneCheck:
    text = raw.strip()
    return plain_mobile(text, region) or parse_phone(text, region=region, mobile_only=mobile_only)


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


def plain_mobile(text: str, region: str) -> PhoneCheck | None:
    """The everyday case, without a full parse: a bare national mobile number (for China
    `13800138000`), checked against the same phonenumbers metadata. None: parse it fully."""
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
    return PhoneCheck(f"+{rule.country_code}{text}", usable=True)


def parse_phone(text: str, *, region: str, mobile_only: bool) -> PhoneCheck:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return PhoneCheck(text, usable=False)
    if not phonenumbers.is_valid_number(number):
        return PhoneCheck(text, usable=False)
    if mobile_only and phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return PhoneCheck(text, usable=False)
    return PhoneCheck(phonenumbers.format_number(number, PhoneNumberFormat.E164), usable=True)
