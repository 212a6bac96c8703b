"""One HL7 message in, one ACK out: parse -> map (hl7_prepare, in the parse pool) -> ingest
(one transaction) -> ACK.
Messages a sender pipelines on one connection are stored in one transaction (group commit:
one durable commit for all of them), each in its own savepoint, then answered in order.

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

from registration.hl7_limits import Hl7Limits
from registration.hl7_mapping import Hl7Options, describe, location_of
from registration.hl7_messages import (
    APPLICATION_ERROR,
    DATA_TYPE_ERROR,
    REQUIRED_FIELD_MISSING,
    Header,
    Hl7Error,
    ack,
)
from registration.hl7_prepare import Hl7Rules, Prepared, Rejected, prepare_all, too_large
from registration.ingest import Hl7Control, Ingested, IntakeRejected
from registration.intake import Intake

log = structlog.get_logger(__name__)

Ingest = Callable[[Sequence[Intake], Hl7Control], Awaitable[Ingested]]
# Many messages in one transaction: per message its outcome, or IntakeRejected.
IngestGroup = Callable[
    [Sequence[tuple[Sequence[Intake], Hl7Control]]], Awaitable[Sequence[Ingested | IntakeRejected]]
]


# Reads messages into intakes (hl7_prepare.prepare_all), e.g. in the parse pool.
Parse = Callable[[Sequence[bytes]], Awaitable[list[Prepared | Rejected]]]


class Hl7Handler:
    def __init__(
        self,
        ingest: Ingest,
        *,
        rules: Hl7Rules,
        us: tuple[str, str],
        ingest_group: IngestGroup | None = None,
        parse: Parse | None = None,
    ) -> None:
        self._ingest = ingest
        self._ingest_group = ingest_group
        self._rules = rules
        self._us = us
        self._parse = parse or self._parse_here

    async def _parse_here(self, payloads: Sequence[bytes]) -> list[Prepared | Rejected]:
        return prepare_all(payloads, self._rules)

    async def __call__(self, payload: bytes) -> bytes:
        [answer] = await self.many([payload])
        return answer

    async def many(self, payloads: Sequence[bytes]) -> list[bytes]:
        """Answer messages pipelined on one connection, in order. With `ingest_group`, all
        the usable ones are stored in ONE transaction (a savepoint each, so one message's
        rejection leaves the others): one commit, then their AAs."""
        answers: list[bytes | None] = []
        todo: list[tuple[int, Prepared]] = []
        for prepared in await self._parse(payloads):
            if isinstance(prepared, Rejected):
                answers.append(self._rejected(prepared))
            else:
                todo.append((len(answers), prepared))
                answers.append(None)
        if todo:
            results = await self._store([(p.intakes, p.control) for _, p in todo])
            for (n, prepared), result in zip(todo, results, strict=True):
                answers[n] = self._answer_result(prepared.header, result)
        return [a for a in answers if a is not None]

    def too_large(self, head: bytes, limit: int) -> bytes:
        """The AR for a frame the listener cut off at `limit` bytes (`head`: its start)."""
        return self._rejected(too_large(head, limit, self._rules))

    def _rejected(self, rejected: Rejected) -> bytes:
        if rejected.fault:
            log.error(
                "HL7 message could not be read",
                control_id=rejected.header.control_id,
                stack=rejected.fault,
            )
        return self._answer(rejected.header, rejected.error.ack, rejected.error)

    async def _store(
        self, messages: Sequence[tuple[Sequence[Intake], Hl7Control]]
    ) -> list[Ingested | BaseException]:
        if self._ingest_group is not None:
            try:
                return list(await self._ingest_group(messages))
            except Exception as exc:  # nothing of the group was committed: AR them all
                log.exception("HL7 messages could not be stored", messages=len(messages))
                return [exc] * len(messages)
        results: list[Ingested | BaseException] = []
        for intakes, control in messages:
            try:
                results.append(await self._ingest(intakes, control))
            except Exception as exc:
                if not isinstance(exc, IntakeRejected):
                    log.exception("HL7 message could not be stored", control_id=control.control_id)
                results.append(exc)
        return results

    def _answer_result(self, header: Header, result: Ingested | BaseException) -> bytes:
        if isinstance(result, IntakeRejected):
            _, rejection = result.rejections[0]
            code = {"missing": REQUIRED_FIELD_MISSING, "invalid": DATA_TYPE_ERROR}.get(
                rejection.kind, APPLICATION_ERROR
            )
            location = location_of(header.message_type, rejection.field)
            text = describe(location, rejection.field, rejection.message)
            error = Hl7Error("AE", code, text, location)
            return self._answer(header, "AE", error)
        if isinstance(result, BaseException):
            error = Hl7Error("AR", APPLICATION_ERROR, "could not store the message; resend later")
            return self._answer(header, "AR", error)
        log.info(
            "HL7 message accepted",
            control_id=header.control_id,
            message=f"{header.message_type}^{header.trigger}",
            duplicate=result.duplicate_message,
            published=result.published,
            held=result.held,
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
        now = datetime.now(self._rules.options.tz)
        return ack(header, code, now=now, error=error, us=self._us)


def rules_from(settings: Any) -> Hl7Rules:
    return Hl7Rules(
        options=options_from(settings),
        default_charset=settings.hl7_default_charset,
        limits=Hl7Limits(
            max_segments=settings.hl7_max_segments,
            max_fields=settings.hl7_max_fields,
            max_repetitions=settings.hl7_max_repetitions,
        ),
    )


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
        known_departments=codes(settings.hl7_known_departments),
    )
