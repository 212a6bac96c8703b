"""Kannel's own record of what it did with a message: bearerbox's access log.

bearerbox writes one line per SMS it sent to the operator ("Sent SMS"), gave up on
("FAILED Send SMS", "DISCARDED SMS", "EXPIRED SMS", "REJECTED - ... SMS") or received, with
the `account` of the sendsms request as `[ACT:...]`. The Kannel provider passes our message
id as that account, so a message whose hand-over the service lost track of can be found:
"Sent SMS" means the operator has it (and Kannel sends it even when we never heard its
answer); a refusal means it will not go. The line format (`access-log-format`, see
tools/devstack/devstack/kannel.py) leaves out the number and the text; Kannel's default
format has the same `[SMSC:..] [SVC:..] [ACT:..]` start, so either can be read.

The file is read only for messages left `sending` after a crash (rare), in a thread; the
current file and the one rotated before it (`<path>.1`) are searched.
"""

from __future__ import annotations

import mmap
import re
import uuid
from collections.abc import Collection, Sequence
from pathlib import Path

from notifications.providers.base import GatewayRecord

_SENT = b"Sent SMS"
_EVENTS = rb"Sent SMS|FAILED Send SMS|DISCARDED SMS|EXPIRED SMS|REJECTED - [^\[\n]*SMS"


def rotated_and_current(path: str) -> list[Path]:
    """The files to search for `path`: the previous (rotated) one first, then the current."""
    return [Path(f"{path}.1"), Path(path)]


def _pattern(message_ids: Collection[str]) -> re.Pattern[bytes]:
    ids = b"|".join(re.escape(str(uuid.UUID(i)).encode()) for i in message_ids)
    return re.compile(
        rb"(" + _EVENTS + rb") \[SMSC:[^\]\n]*\] \[SVC:[^\]\n]*\] \[ACT:(" + ids + rb")\]"
    )


def find_in_access_log(
    paths: Sequence[Path], message_ids: Collection[str]
) -> dict[str, GatewayRecord]:
    """What the access logs at `paths` say of these messages (ids the logs do not name are
    left out). A message in several parts was sent when any part was."""
    if not message_ids:
        return {}
    pattern = _pattern(message_ids)
    found: dict[str, GatewayRecord] = {}
    for path in paths:
        for event, message_id in _matches(path, pattern):
            if event == _SENT:
                found[message_id] = GatewayRecord.SENT
            else:
                found.setdefault(message_id, GatewayRecord.REFUSED)
    return found


def _matches(path: Path, pattern: re.Pattern[bytes]) -> list[tuple[bytes, str]]:
    try:
        with path.open("rb") as fh:
            if path.stat().st_size == 0:
                return []
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return [(m[1], m[2].decode()) for m in pattern.finditer(data)]  # type: ignore[call-overload]
    except FileNotFoundError:
        return []
