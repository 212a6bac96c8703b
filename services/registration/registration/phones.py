"""Phone numbers as hospital systems send them, normalised to E.164 with `phonenumbers`.

A number that cannot take an SMS (unparseable, invalid, a landline when only mobiles are
usable) is kept exactly as received and flagged: it never rejects the visit it came with.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from hospital_shared.phones import plain_mobile

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
    if (e164 := plain_mobile(text, region)) is not None:
        return PhoneCheck(e164, usable=True)
    return parse_phone(text, region=region, mobile_only=mobile_only)


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
