"""One value of a parsed HL7 message, its escape sequences (HL7 v2 chapter 2.7) read once.
Pure.

The `hl7` library unescapes every value it extracts, and `get` used to unescape the result
again: `Smith\\E\\F\\E\\Jr` (a literal `\\F\\`) became `Smith|Jr`. Its `\\X..\\` made one
character of each byte (the GB18030 bytes of 张 came out as two Latin letters), and it
dropped an escape it could not read, logging the whole field (a patient's name). Here the
value is taken raw from the parse tree and read with the message's own separators and its
charset (MSH-18); an escape that cannot be read is AE 102 naming the field (without its
text, which may be part of a name).
"""

from __future__ import annotations

from typing import Any

import hl7

from registration.hl7_messages import DATA_TYPE_ERROR, Hl7Error

_HIGHLIGHT = {"H", "N"}  # highlighting on and off: formatting, not content


def get(message: Any, key: str) -> str:
    """The value at `key` (`PID.F3.R1.C1`), its escapes read; '' when absent."""
    accessor = hl7.Accessor.parse_key(key)
    text = _raw(message, accessor)
    if message.esc not in text:
        return text.strip()
    location = f"{accessor.segment}^{accessor.segment_num or 1}^{accessor.field_num or 1}"
    return unescape(
        text,
        separators=message.separators,
        esc=message.esc,
        charset=getattr(message, "charset", None) or "utf-8",
        location=location,
    ).strip()


def unescape(text: str, *, separators: str, esc: str, charset: str, location: str) -> str:
    """`text` with its escape sequences replaced; `separators` as `hl7` keeps them
    (segment, field, repetition, component, subcomponent)."""
    delimiters = {
        "F": separators[1], "R": separators[2], "S": separators[3], "T": separators[4], "E": esc,
    }  # fmt: skip
    parts = text.split(esc)
    if len(parts) % 2 == 0:
        raise _unreadable(location, "an escape sequence is not closed")
    out = []
    for n, part in enumerate(parts):
        if n % 2 == 0:
            out.append(part)
        elif part in delimiters:
            out.append(delimiters[part])
        elif part in _HIGHLIGHT:
            continue
        elif part[:1] == "X":
            out.append(_hex(part[1:], charset, location))
        else:
            raise _unreadable(location, "an escape other than F, S, T, R, E, H, N or X (hex)")
    return "".join(out)


def _hex(digits: str, charset: str, location: str) -> str:
    try:
        return bytes.fromhex(digits).decode(charset) if digits else ""
    except (ValueError, UnicodeDecodeError):
        raise _unreadable(location, f"an \\X\\ escape that is not hex bytes of {charset}") from None


def _unreadable(location: str, why: str) -> Hl7Error:
    return Hl7Error("AE", DATA_TYPE_ERROR, f"{location.replace('^1^', '-')}: {why}", location)


def _raw(message: Any, at: hl7.Accessor) -> str:
    """The value as it stands in the message (escaped), following the first child where
    `at` stops short, like `hl7`'s extract_field; '' when absent."""
    try:
        segment = message.segments(at.segment)[(at.segment_num or 1) - 1]
    except (KeyError, IndexError):
        return ""
    field_num = at.field_num or 1
    if field_num >= len(segment):
        return ""
    node: Any = segment(field_num)
    for n in (at.repeat_num, at.component_num, at.subcomponent_num):
        if isinstance(node, str):
            return node if (n or 1) == 1 else ""
        if (n or 1) > len(node):
            return ""
        node = node(n or 1)
    while not isinstance(node, str):
        node = node(1) if len(node) else ""
    return node
