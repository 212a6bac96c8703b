"""Reading HL7 messages into intakes, the part of handling a message that is pure CPU. Pure.

It runs in the parse pool (registration/parse_pool.py), away from the event loop, so
everything it takes and returns is plain picklable data, and it logs nothing: the service's
process logs what comes back (`Rejected.fault` carries where an unexpected error was raised,
without its message, which may quote the message's text).
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass

from registration.hl7_limits import Hl7Limits
from registration.hl7_mapping import Hl7Options, to_intakes
from registration.hl7_messages import (
    APPLICATION_ERROR,
    DEFAULT_LIMITS,
    Header,
    HeaderError,
    Hl7Error,
    parse,
    read_header,
)
from registration.ingest import Hl7Control
from registration.intake import Intake


@dataclass(frozen=True)
class Hl7Rules:
    """What reading a message needs (the settings' part, sent to each pool worker)."""

    options: Hl7Options
    default_charset: str
    limits: Hl7Limits = DEFAULT_LIMITS


@dataclass(frozen=True, slots=True)
class Prepared:
    header: Header
    intakes: Sequence[Intake]
    control: Hl7Control


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that cannot be used: its ACK code (AE/AR) and ERR, and for an unexpected
    failure, the stack (no exception message) to log."""

    header: Header
    error: Hl7Error
    fault: str = ""


def prepare(payload: bytes, rules: Hl7Rules) -> Prepared | Rejected:
    header = Header()
    try:
        received = parse(payload, default_charset=rules.default_charset, limits=rules.limits)
        header = received.header
        intakes = to_intakes(received, rules.options)
    except HeaderError as exc:
        return Rejected(exc.header, exc)
    except Hl7Error as exc:
        return Rejected(header, exc)
    except Exception as exc:
        fault = "".join([*traceback.format_tb(exc.__traceback__), type(exc).__name__])
        error = Hl7Error("AR", APPLICATION_ERROR, "could not read the message")
        return Rejected(header, error, fault)
    control = Hl7Control(
        header.sender, header.control_id, f"{header.message_type}^{header.trigger}"
    )
    return Prepared(header, intakes, control)


def prepare_all(payloads: Sequence[bytes], rules: Hl7Rules) -> list[Prepared | Rejected]:
    """`prepare` for messages pipelined on one connection: one trip to the pool for them."""
    return [prepare(payload, rules) for payload in payloads]


def header_of(payload: bytes, rules: Hl7Rules) -> Header:
    """MSH of a message, read from its first line only (cheap, whatever its size), so that
    an ACK refusing it unread still names it (MSA-2) for the sender to match."""
    first_line = payload.split(b"\r", 1)[0].split(b"\n", 1)[0]
    try:
        return read_header(first_line, default_charset=rules.default_charset)
    except HeaderError as exc:
        return exc.header
    except Hl7Error:
        return Header()


def too_large(head: bytes, limit: int, rules: Hl7Rules) -> Rejected:
    """The AR for a frame cut off at `limit` bytes; `head` is what was read of it."""
    text = f"the message is larger than {limit} bytes, the most accepted"
    return Rejected(header_of(head, rules), Hl7Error("AR", APPLICATION_ERROR, text))
