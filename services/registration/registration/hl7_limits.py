"""Limits on an HL7 message's structure, checked on its text before it is parsed. Pure.

The parser builds a Python object for every segment, field, repetition and component, so a
message's cost follows how many there are, not its size: a 1 MB A04 whose PID-13 repeated
150,000 times took 1.9 s to parse and map on an idle core (6-11 s in the loaded service),
one of 100,000 NTE segments 3.2 s. No ADT or SIU message needs anywhere near the defaults
(an A08 with every NK1, DG1, AL1 and OBX of a long stay has a few hundred segments; PID-3 and
PID-13 repeat a handful of times), so a message over them is refused (AR, ERR naming the
field) without being parsed. Counting separators is done by `str.count`, in C.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Hl7Limits:
    max_segments: int = 1000
    max_fields: int = 256  # per segment (PV1, the longest ADT segment, has 52)
    max_repetitions: int = 100  # per field


class StructureError(Exception):
    """The message is over a limit: `text` says which, `location` (ERR-2) where."""

    def __init__(self, text: str, location: str = "") -> None:
        super().__init__(text)
        self.text = text
        self.location = location


def check_structure(
    segments: Sequence[str], *, field_sep: str, repetition_sep: str, limits: Hl7Limits
) -> None:
    """StructureError when `segments` (the message's, split) are over `limits`."""
    if len(segments) > limits.max_segments:
        raise StructureError(
            f"{len(segments)} segments; at most {limits.max_segments} are accepted"
        )
    for n, segment in enumerate(segments):
        fields = segment.count(field_sep)
        if fields > limits.max_fields:
            raise StructureError(
                f"{fields} fields in one segment; at most {limits.max_fields} are accepted",
                _location(segments, n),
            )
        # MSH-2 holds the repetition separator itself, once.
        if segment.count(repetition_sep) >= limits.max_repetitions:
            _check_repetitions(segments, n, field_sep, repetition_sep, limits.max_repetitions)


def _check_repetitions(
    segments: Sequence[str], n: int, field_sep: str, repetition_sep: str, limit: int
) -> None:
    parts = segments[n].split(field_sep)
    is_msh = parts[0] == "MSH"
    for index, value in enumerate(parts[1:], start=1):
        if is_msh and index == 1:  # MSH-2, the encoding characters
            continue
        repetitions = value.count(repetition_sep) + 1
        if repetitions > limit:
            field = index + 1 if is_msh else index  # MSH-1 is the field separator itself
            raise StructureError(
                f"{parts[0]}-{field} repeats {repetitions} times; at most {limit} are accepted",
                f"{_location(segments, n)}^{field}",
            )


def _location(segments: Sequence[str], n: int) -> str:
    """ERR-2's segment id and sequence (`PID^1`) of the n-th segment."""
    name = segments[n][:3]
    sequence = sum(1 for s in segments[: n + 1] if s[:3] == name)
    return f"{name}^{sequence}"
