"""One HL7 message in, one ACK out: parse -> map -> ingest (one transaction) -> ACK.

AA only once the visit and its outbox rows are committed; a repeated MSH-10 from the same
sender is acknowledged AA without storing or publishing anything again. AE names the field a
message got wrong; AR means the message as such is not taken (type, charset, framing) or that
we could not store it just now (resend).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from registration.hl7_mapping import Hl7Options, location_of, to_intakes
from registration.hl7_messages import (
    APPLICATION_ERROR,
    DATA_TYPE_ERROR,
    REQUIRED_FIELD_MISSING,
    Header,
    HeaderError,
    Hl7Error,
    ack,
    parse,
)
from registration.ingest import Hl7Control, Ingested, IntakeRejected
from registration.intake import Intake

log = structlog.get_logger(__name__)

Ingest = Callable[[Sequence[Intake], Hl7Control], Awaitable[Ingested]]


class Hl7Handler:
    def __init__(
        self,
        ingest: Ingest,
        *,
        options: Hl7Options,
        default_charset: str,
        us: tuple[str, str],
    ) -> None:
        self._ingest = ingest
        self._options = options
        self._charset = default_charset
        self._us = us

    async def __call__(self, payload: bytes) -> bytes:
        header = Header()
        try:
            received = parse(payload, default_charset=self._charset)
            header = received.header
            intakes = to_intakes(received, self._options)
            control = Hl7Control(
                header.sender, header.control_id, f"{header.message_type}^{header.trigger}"
            )
            done = await self._ingest(intakes, control)
        except HeaderError as exc:
            return self._answer(exc.header, exc.ack, exc)
        except Hl7Error as exc:
            return self._answer(header, exc.ack, exc)
        except IntakeRejected as exc:
            _, rejection = exc.rejections[0]
            code = {"missing": REQUIRED_FIELD_MISSING, "invalid": DATA_TYPE_ERROR}.get(
                rejection.kind, APPLICATION_ERROR
            )
            location = location_of(header.message_type, rejection.field)
            error = Hl7Error("AE", code, f"{rejection.field}: {rejection.message}", location)
            return self._answer(header, "AE", error)
        except Exception:
            log.exception("HL7 message could not be stored", control_id=header.control_id)
            error = Hl7Error("AR", APPLICATION_ERROR, "could not store the message; resend later")
            return self._answer(header, "AR", error)
        log.info(
            "HL7 message accepted",
            control_id=header.control_id,
            message=f"{header.message_type}^{header.trigger}",
            duplicate=done.duplicate_message,
            published=done.published,
            held=done.held,
        )
        return self._answer(header, "AA", None)

    def _answer(self, header: Header, code: str, error: Hl7Error | None) -> bytes:
        if error is not None:
            log.info(
                "HL7 message not accepted",
                control_id=header.control_id,
                ack=code,
                error_code=error.code,
                location=error.location,
                reason=error.text,
            )
        return ack(header, code, now=datetime.now(self._options.tz), error=error, us=self._us)


def options_from(settings: Any) -> Hl7Options:
    def codes(raw: str) -> frozenset[str]:
        return frozenset(c.strip().upper() for c in raw.split(",") if c.strip())

    return Hl7Options(
        tz=ZoneInfo(settings.hospital_tz),
        source=f"{settings.event_source}/hl7",
        first_visit_codes=codes(settings.hl7_first_visit_codes),
        return_visit_codes=codes(settings.hl7_return_visit_codes),
        default_visit_type=settings.hl7_default_visit_type,
        adt_channel=settings.hl7_adt_channel,
        siu_channel=settings.hl7_siu_channel,
    )
