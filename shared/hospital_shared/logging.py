"""Structured JSON logs with patient names and phone numbers masked in every line.

Masking works on keys (`name`, `phone`, `patient_name`, ...) and on text: anything that looks
like a Chinese mobile number is masked wherever it appears in a log line.

Repeated warnings and errors are rate-limited: in a minute of Kafka outage the metrics service
wrote ~8,600 "Unable connect to node" lines (aiokafka's, one per reconnect try of each of its
consumers), which drowns what else happened. A line whose logger, level and message template
were already logged in the last `repeat_window_s` seconds is counted instead of written; once
that window is over, one summary says how often (`<template> (repeated N times in the last
T s)`, with `repeated` and `repeated_over_s` fields). The runtime flushes due summaries every
few seconds (`flush_repeated_logs`), so a burst that stops is still reported.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import structlog

SENSITIVE_KEYS = frozenset(
    {"name", "patient_name", "phone", "mobile", "to", "recipient", "id_card"}
)
_PHONE = re.compile(r"(?<!\d)(\+?86[- ]?)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_phone(text: str) -> str:
    return _PHONE.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}****{m.group(4)}", text)


def mask_name(name: str) -> str:
    """张三丰 -> 张**; Li Ming -> L*******."""
    return name[:1] + "*" * max(1, len(name) - 1) if name else name


def _mask_value(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_value(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(key, v) for v in value]
    if not isinstance(value, str):
        return value
    if key in {"phone", "mobile", "to", "recipient"}:
        digits = re.sub(r"\D", "", value)
        return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 7 else "****"
    if key in {"name", "patient_name"}:
        return mask_name(value)
    if key == "id_card":
        return value[:4] + "*" * max(0, len(value) - 4)
    return mask_phone(value)


def mask_sensitive(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        event_dict[key] = _mask_value(key, value)
    return event_dict


URL_LOGGERS = ("httpx", "httpcore")

# structlog's method names at WARNING and above: the lines that are rate-limited.
_LIMITED_METHODS = {
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


@dataclass(frozen=True, slots=True)
class Repeated:
    """`count` lines like `template` (of `logger`, at `level`) were not written over `over_s`."""

    logger: str
    level: int
    template: str
    count: int
    over_s: float


@dataclass(slots=True)
class _Window:
    since: float
    dropped: int = 0


class RepeatLimiter:
    """Lets the first line of each kind (logger, level, template) through per `window_s`,
    counts the others, and hands back a `Repeated` for each kind whose window ended with lines
    dropped. Thread-safe (aiokafka and uvicorn log from the loop, `to_thread` work elsewhere)."""

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.clock = clock
        self._windows: dict[tuple[str, int, str], _Window] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def admit(self, logger: str, level: int, template: str) -> tuple[bool, list[Repeated]]:
        """(write this line?, summaries due now, to write before it)."""
        key = (logger, level, template)
        now = self.clock()
        with self._lock:
            due = self._sweep(now) if now >= self._next_sweep else []
            window = self._windows.get(key)
            if window is not None and now - window.since < self.window_s:
                window.dropped += 1
                return False, due
            if window is not None and window.dropped:
                due.append(Repeated(*key, window.dropped, now - window.since))
            self._windows[key] = _Window(since=now)
            return True, due

    def flush(self) -> list[Repeated]:
        """The summaries of every window that has ended."""
        with self._lock:
            return self._sweep(self.clock())

    def _sweep(self, now: float) -> list[Repeated]:
        self._next_sweep = now + self.window_s / 2
        due = []
        for key, window in list(self._windows.items()):
            if now - window.since >= self.window_s:
                del self._windows[key]
                if window.dropped:
                    due.append(Repeated(*key, window.dropped, now - window.since))
        return due


class _Repeats:
    """The limiter wired into both logging paths: a filter on the stdlib handler (aiokafka,
    uvicorn, faststream) and a structlog processor (our own lines). Summaries are written as
    stdlib records on the same handler, so they come out as JSON lines like any other."""

    def __init__(self, limiter: RepeatLimiter, handler: logging.Handler) -> None:
        self.limiter = limiter
        self.handler = handler

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or hasattr(record, "repeated"):
            return True
        admitted, due = self.limiter.admit(record.name, record.levelno, str(record.msg))
        self.write(due)
        return admitted

    def processor(
        self, _: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        level = _LIMITED_METHODS.get(method_name)
        if level is None:
            return event_dict
        admitted, due = self.limiter.admit("structlog", level, str(event_dict.get("event")))
        self.write(due)
        if not admitted:
            raise structlog.DropEvent
        return event_dict

    def write(self, due: list[Repeated]) -> None:
        for rep in due:
            over = round(rep.over_s)
            msg = f"{rep.template} (repeated {rep.count} times in the last {over} s)"
            record = logging.LogRecord(rep.logger, rep.level, "", 0, msg, (), None)
            record.repeated = rep.count
            record.repeated_over_s = over
            self.handler.handle(record)


_ACTIVE: _Repeats | None = None


def flush_repeated_logs() -> None:
    """Write the summaries of repeated lines whose window has ended (the runtime calls this
    every few seconds, so the count of a burst that stopped is not left unsaid)."""
    if _ACTIVE is not None:
        _ACTIVE.write(_ACTIVE.limiter.flush())


def _repeat_fields(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    record = event_dict.get("_record")
    if record is not None and hasattr(record, "repeated"):
        event_dict["repeated"] = record.repeated
        event_dict["repeated_over_s"] = record.repeated_over_s
    return event_dict


# Libraries that quote the data they were given in their own log lines: `hl7` logs a whole
# field (a patient's name) when it cannot unescape it, under a logger named by its file path.
QUOTING_LOGGERS = ("/hl7/util.py", "/hl7/containers.py")


class DropQuotingLibraries(logging.Filter):
    """Drops the records of QUOTING_LOGGERS: masking cannot find a name in free text."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.replace("\\", "/").endswith(QUOTING_LOGGERS)


def keep_library_quotes_out() -> None:
    """For a process without `configure_logging` (a parse-pool worker): warnings still go to
    stderr, as Python's last resort would write them, but not the QUOTING_LOGGERS' records."""
    root = logging.getLogger()
    if not root.handlers:
        fallback = logging.StreamHandler(sys.stderr)
        fallback.setLevel(logging.WARNING)
        root.addHandler(fallback)
    for handler in root.handlers:
        handler.addFilter(DropQuotingLibraries())


def configure_logging(*, service: str, level: str = "INFO", repeat_window_s: float = 10.0) -> None:
    """JSON lines on stderr; stdlib logging (uvicorn, aiokafka, faststream) goes the same way.
    Warnings and errors repeated within `repeat_window_s` are summarised (0: all written)."""
    global _ACTIVE
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        mask_sensitive,
    ]
    handler = logging.StreamHandler(sys.stderr)
    _ACTIVE = _Repeats(RepeatLimiter(repeat_window_s), handler) if repeat_window_s > 0 else None
    limit: list[Any] = [_ACTIVE.processor] if _ACTIVE is not None else []
    structlog.configure(
        processors=[*limit, *shared, structlog.processors.JSONRenderer(ensure_ascii=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, _repeat_fields, *shared],
        )
    )
    handler.addFilter(DropQuotingLibraries())
    if _ACTIVE is not None:
        handler.addFilter(_ACTIVE.filter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # HTTP clients log every request's full URL at INFO: for Kannel's sendsms that is the
    # gateway password and the message text (patient data). Their warnings still show.
    for chatty in URL_LOGGERS:
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
