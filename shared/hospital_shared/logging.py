"""Structured JSON logs with patient names and phone numbers masked in every line.

Masking works on keys (`name`, `phone`, `patient_name`, ...) and on text: anything that looks
like a Chinese mobile number is masked wherever it appears in a log line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
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


def configure_logging(*, service: str, level: str = "INFO") -> None:
    """JSON lines on stderr; stdlib logging (uvicorn, aiokafka, faststream) goes the same way."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        mask_sensitive,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.JSONRenderer(ensure_ascii=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # HTTP clients log every request's full URL at INFO: for Kannel's sendsms that is the
    # gateway password and the message text (patient data). Their warnings still show.
    for chatty in URL_LOGGERS:
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
