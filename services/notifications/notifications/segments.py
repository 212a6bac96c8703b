"""How many SMS segments a text takes, in the encoding it will be sent in.

GSM 03.38 7-bit when every character is in the default alphabet (160 per single SMS, 153
per part of a concatenated one; the extension characters take two septets); otherwise
UCS-2 (70 per single SMS, 67 per part), counted in UTF-16 code units, so a character
outside the BMP (an emoji) takes two. Chinese text is always UCS-2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["gsm7", "ucs2"]

_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = set("^{}\\[~]|€\f")

SINGLE = {"gsm7": 160, "ucs2": 70}
PART = {"gsm7": 153, "ucs2": 67}


@dataclass(frozen=True, slots=True)
class SegmentCount:
    encoding: Encoding
    units: int  # septets (gsm7) or UTF-16 code units (ucs2)
    segments: int


def encoding_for(text: str) -> Encoding:
    return "gsm7" if all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in text) else "ucs2"


def count_segments(text: str) -> SegmentCount:
    encoding = encoding_for(text)
    if encoding == "gsm7":
        units = sum(2 if c in _GSM_EXTENSION else 1 for c in text)
    else:
        units = len(text.encode("utf-16-be")) // 2
    if units <= SINGLE[encoding]:
        segments = 1
    else:
        segments = -(-units // PART[encoding])
    return SegmentCount(encoding, units, segments)
