"""HL7 v2 messages (parsed with `hl7`) into intakes, and the ACKs that answer them. Pure.

Charset: MSH-18 says how the bytes are encoded (`UNICODE UTF-8`, `GB 18030-2000`, ...). The
bytes are decoded first (strict UTF-8, else GB18030) only to read MSH-18, then decoded again
as MSH-18 says; bytes that are not valid in the declared charset are an error, never guessed.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import hl7
from hl7.datatypes import parse_datetime

from registration.hl7_limits import Hl7Limits, StructureError, check_structure

# HL7 table 0357 (message error condition codes) used in ERR-3.
SEGMENT_SEQUENCE_ERROR = 100
REQUIRED_FIELD_MISSING = 101
DATA_TYPE_ERROR = 102
UNSUPPORTED_MESSAGE_TYPE = 200
UNSUPPORTED_EVENT_CODE = 201
UNSUPPORTED_PROCESSING_ID = 202
APPLICATION_ERROR = 207

_ERROR_TEXT = {
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    APPLICATION_ERROR: "Application internal error",
}

_CHARSETS = {  # MSH-18, upper case without spaces, dashes or underscores -> Python codec
    "": None,
    "ASCII": "ascii",
    "UNICODEUTF8": "utf-8",
    "UTF8": "utf-8",
    "GB180302000": "gb18030",
    "GB18030": "gb18030",
    "GB180302005": "gb18030",
    "GBK": "gb18030",
    "GB2312": "gb18030",
    "ISOIR58": "gb18030",  # HL7 table 0211's name for GB 2312
    "ISOIR6": "ascii",
    "8859/1": "latin-1",
}

SUPPORTED = {
    ("ADT", "A01"),
    ("ADT", "A02"),
    ("ADT", "A03"),
    ("ADT", "A04"),
    ("ADT", "A08"),
    ("ADT", "A11"),
    ("ADT", "A13"),
    ("ADT", "A40"),
    ("SIU", "S12"),
    ("SIU", "S15"),
    ("SIU", "S26"),
}


class Hl7Error(Exception):
    """A message we cannot use: answered AE (its content) or AR (the message as such)."""

    def __init__(self, ack: str, code: int, text: str, location: str = "") -> None:
        super().__init__(text)
        self.ack = ack
        self.code = code
        self.text = text
        self.location = location

    def __reduce__(self) -> tuple[type[Hl7Error], tuple[str, int, str, str]]:
        """Pickled as a plain Hl7Error (a HeaderError's header travels beside it): the parse
        pool's workers send these back to the service."""
        return Hl7Error, (self.ack, self.code, self.text, self.location)


@dataclass(frozen=True, slots=True)
class Header:
    field_sep: str = "|"
    encoding_chars: str = "^~\\&"
    sending_application: str = ""
    sending_facility: str = ""
    message_type: str = ""
    trigger: str = ""
    control_id: str = ""
    processing_id: str = "P"
    version: str = "2.5"
    charset_field: str = ""
    codec: str = "utf-8"

    @property
    def sender(self) -> str:
        return f"{self.sending_application}/{self.sending_facility}"


@dataclass(frozen=True, slots=True)
class Received:
    header: Header
    message: Any  # hl7.Message


DEFAULT_LIMITS = Hl7Limits()

_MSH_START = re.compile(rb"^\s*MSH(.)")


def read_header(raw: bytes, *, default_charset: str) -> Header:
    """MSH of `raw`, with the codec its bytes must be read with; Hl7Error when unreadable."""
    match = _MSH_START.match(raw)
    if not match:
        raise Hl7Error("AR", SEGMENT_SEQUENCE_ERROR, "the message does not start with MSH")
    sep = match.group(1)
    try:
        first = raw.decode("utf-8")
    except UnicodeDecodeError:
        first = raw.decode("gb18030", errors="replace")
    msh_line = re.split(r"[\r\n]", first.lstrip(), maxsplit=1)[0]
    fields = msh_line.split(sep.decode("latin-1"))
    fields = ["MSH", sep.decode("latin-1"), *fields[1:]]  # MSH-1 is the separator itself

    def f(n: int) -> str:
        return fields[n] if len(fields) > n else ""

    enc = f(2) or "^~\\&"
    comp = enc[0]
    msg_type = f(9).split(comp)
    declared = f(18).split(enc[1] if len(enc) > 1 else "~")[0]
    codec = _CHARSETS.get(re.sub(r"[\s_-]", "", declared.upper()), "unknown")
    header = Header(
        field_sep=fields[1],
        encoding_chars=enc,
        sending_application=f(3).split(comp)[0],
        sending_facility=f(4).split(comp)[0],
        message_type=msg_type[0] if msg_type else "",
        trigger=msg_type[1] if len(msg_type) > 1 else "",
        control_id=f(10).split(comp)[0],
        processing_id=f(11).split(comp)[0] or "P",
        version=f(12).split(comp)[0] or "2.5",
        charset_field=declared,
        codec=codec or default_charset,
    )
    if codec == "unknown":
        raise HeaderError(
            header, "AR", DATA_TYPE_ERROR, f"unsupported charset {declared!r}", "MSH^1^18"
        )
    return header


class HeaderError(Hl7Error):
    """An Hl7Error found after MSH was read, so the ACK can still echo it."""

    def __init__(self, header: Header, ack: str, code: int, text: str, location: str = "") -> None:
        super().__init__(ack, code, text, location)
        self.header = header


# MSH-10 and the sender (MSH-3, MSH-4) are the key the messages received are kept under
# (`hl7_messages`' primary key: an index entry holds at most ~2.7 kB): HL7 gives MSH-10 199
# characters (v2.7), and a sender's names no more. Longer, the message could never be stored:
# it was AR "resend later" for ever, and the messages sent with it at once with it.
HEADER_FIELD_MAX = 199
_KEYED = (("control_id", "MSH-10", "MSH^1^10"), ("sending_application", "MSH-3", "MSH^1^3"),
          ("sending_facility", "MSH-4", "MSH^1^4"))  # fmt: skip


def parse(raw: bytes, *, default_charset: str, limits: Hl7Limits = DEFAULT_LIMITS) -> Received:
    """The message, read as MSH-18 says, once its structure is within `limits`."""
    header = read_header(raw, default_charset=default_charset)
    if not header.control_id:
        raise HeaderError(header, "AR", REQUIRED_FIELD_MISSING, "MSH-10 is empty", "MSH^1^10")
    for attribute, name, location in _KEYED:
        if len(getattr(header, attribute)) > HEADER_FIELD_MAX:
            text = f"{name} is longer than {HEADER_FIELD_MAX} characters"
            raise HeaderError(header, "AR", DATA_TYPE_ERROR, text, location)
    if b"\x0b" in raw or b"\x1c" in raw:  # MLLP's block characters: frames run together
        raise HeaderError(
            header, "AR", DATA_TYPE_ERROR, "the message contains MLLP block characters (0x0B, 0x1C)"
        )
    try:
        text = raw.decode(header.codec)
    except UnicodeDecodeError:
        raise HeaderError(
            header, "AR", DATA_TYPE_ERROR,
            f"the bytes are not valid {header.codec} (MSH-18 {header.charset_field!r})",
            "MSH^1^18",
        ) from None  # fmt: skip
    if "\x00" in text:  # PostgreSQL text cannot hold NUL; no HL7 field needs one
        raise HeaderError(header, "AR", DATA_TYPE_ERROR, "the message contains NUL characters")
    segments = [s for s in re.split(r"\r\n|\r|\n", text.strip()) if s.strip()]
    _check_limits(segments, header, limits)
    try:
        message = hl7.parse("\r".join(segments))
    except Exception as exc:  # the parser's errors are not all ParseException
        raise HeaderError(header, "AR", DATA_TYPE_ERROR, f"unparseable: {exc}") from None
    message.charset = header.codec  # what `\X..\` escapes are bytes of (hl7_values.get)
    if header.processing_id not in ("P", "T", "D"):
        raise HeaderError(
            header, "AR", UNSUPPORTED_PROCESSING_ID,
            f"processing id {header.processing_id!r}", "MSH^1^11",
        )  # fmt: skip
    if (header.message_type, header.trigger) not in SUPPORTED:
        code = (
            UNSUPPORTED_EVENT_CODE
            if header.message_type in ("ADT", "SIU")
            else UNSUPPORTED_MESSAGE_TYPE
        )
        raise HeaderError(
            header, "AR", code,
            f"{header.message_type}^{header.trigger} is not taken here", "MSH^1^9",
        )  # fmt: skip
    return Received(header, message)


def _check_limits(segments: list[str], header: Header, limits: Hl7Limits) -> None:
    enc = header.encoding_chars
    try:
        check_structure(
            segments,
            field_sep=header.field_sep,
            repetition_sep=enc[1] if len(enc) > 1 else "~",
            limits=limits,
        )
    except StructureError as exc:
        raise HeaderError(header, "AR", APPLICATION_ERROR, exc.text, exc.location) from None


def has_segment(message: Any, segment: str) -> bool:
    try:
        message.segments(segment)
    except KeyError:
        return False
    return True


def repetitions(message: Any, segment: str, field: int) -> int:
    try:
        return len(message.segment(segment)(field))
    except (KeyError, IndexError, TypeError):
        return 0


# HL7 DTM: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ], the whole value.
_DTM = re.compile(r"[0-9]{4}(?:[0-9]{2}(?:[0-9]{2}(?:[0-9]{2}(?:[0-9]{2}(?:[0-9]{2}"
                  r"(?:\.[0-9]{1,4})?)?)?)?)?)?(?:[+-][0-9]{4})?")  # fmt: skip


def hl7_time(value: str, tz: ZoneInfo, location: str) -> datetime | None:
    """An HL7 DTM as an aware datetime (hospital-local when it carries no offset). An offset
    past 24 h, or one that moves year 1 or 9999 out of Python's years, is a data type error
    naming the field like any unreadable time (both were AR 207, 'could not read the
    message', naming nothing). The whole value must be a DTM: the `hl7` library reads only
    what its pattern matches, so `2026-11-25 14:00:00` was 1 January 2026 and `...-05` or
    `...Z` hospital time, all answered AA."""
    if not value:
        return None
    try:
        if not _DTM.fullmatch(value):
            raise ValueError(value)
        parsed: datetime = parse_datetime(value)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=tz)
        return datetime.fromtimestamp(parsed.timestamp(), tz=tz)
    except (ValueError, TypeError, OverflowError):
        raise Hl7Error(
            "AE", DATA_TYPE_ERROR, f"not an HL7 date/time: {value!r}", location
        ) from None


def event_id(header: Header, n: int = 0) -> str:
    """A stable id for the n-th event of a message: a repeat can never publish a second one."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"hl7:{header.sender}:{header.control_id}:{n}"))


def ack(
    header: Header,
    code: str,
    *,
    now: datetime,
    error: Hl7Error | None = None,
    us: tuple[str, str] = ("HOSPITAL-OPS", "REGISTRATION"),
) -> bytes:
    """The ACK for a message (echoing MSH-10 in MSA-2), encoded like the message itself.

    `us` is our application and facility (MSH-3, MSH-4 of the ACK)."""
    fs = header.field_sep or "|"
    enc = header.encoding_chars or "^~\\&"
    comp = enc[0]
    msh = fs.join(
        [
            "MSH",
            enc,
            _safe(us[0], fs, enc),
            _safe(us[1], fs, enc),
            _safe(header.sending_application, fs, enc),
            _safe(header.sending_facility, fs, enc),
            now.strftime("%Y%m%d%H%M%S%z"),  # with the offset (+0800) when `now` has one
            "",
            comp.join(["ACK", header.trigger, "ACK"]) if header.trigger else "ACK",
            f"ACK{_as_sent(header.control_id, fs)}"[:199],
            header.processing_id or "P",
            header.version or "2.5",
            *([""] * 5),
            header.charset_field,
        ]
    ).rstrip(fs)
    segments = [msh, fs.join(["MSA", code, _as_sent(header.control_id, fs)])]
    if error is not None:
        err_code = comp.join([str(error.code), _ERROR_TEXT.get(error.code, "Error"), "HL70357"])
        severity = "E"
        segments.append(
            fs.join(
                [
                    "ERR",
                    "",
                    error.location,
                    err_code,
                    severity,
                    "",
                    "",
                    "",
                    _safe(error.text, fs, enc)[:250],
                ]
            )
        )
    text = "\r".join(segments) + "\r"
    try:
        return text.encode(header.codec or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return text.encode("utf-8", errors="replace")


def _as_sent(control_id: str, fs: str) -> str:
    """MSH-10 echoed as the sender wrote it, escapes and all (`G\\F\\1`), so that it matches
    its ACK: the ACK is written with the message's own separators. Blanking them (`G F 1`)
    gave the sender an ACK of no message of its."""
    for ch in (fs, "\r", "\n"):
        control_id = control_id.replace(ch, " ")
    return control_id


def _safe(text: str, fs: str, enc: str) -> str:
    """Text put into an ACK field must not contain the message's separators."""
    for ch in {fs, *enc, "\r", "\n"}:
        text = text.replace(ch, " ")
    return text
