"""The one use case behind REST and MLLP: in ONE transaction, drop repeats, apply the intakes
to the visits they touch, store the visits, and put the resulting events in the outbox.

When it returns, what was accepted is committed (durable); when any intake is rejected it
raises `IntakeRejected` and nothing at all is stored or published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import structlog
from prometheus_client import Counter

from hospital_shared.codec import encode_new_event
from hospital_shared.events import EVENT_TYPES
from hospital_shared.outbox import add_encoded_to_outbox
from hospital_shared.service_events.registration import PHONE_STATUS_ATTRIBUTE
from registration import repository
from registration.domain import Ledger, NormalisePhone, visit_keys
from registration.intake import Intake, Outgoing, Rejection

log = structlog.get_logger(__name__)

INTAKES = Counter(
    "registration_intakes_total",
    "Facts received from hospital systems, by channel and outcome",
    ["channel", "outcome"],  # outcome: published | held | ignored | duplicate | rejected
)
UNUSABLE_PHONES = Counter(
    "registration_unusable_phones_total", "Published events whose phone was kept but flagged"
)


class IntakeRejected(Exception):
    def __init__(self, rejections: list[tuple[int, Rejection]]) -> None:
        super().__init__(f"{len(rejections)} intake(s) rejected")
        self.rejections = rejections


@dataclass(frozen=True, slots=True)
class Hl7Control:
    sender: str
    control_id: str
    message_type: str


@dataclass
class Ingested:
    event_ids: list[str] = field(default_factory=list)  # of the intakes, in request order
    duplicates: list[str] = field(default_factory=list)
    published: int = 0
    held: int = 0
    duplicate_message: bool = False  # the HL7 control id was seen before


async def ingest(
    pool: asyncpg.Pool,
    intakes: Sequence[Intake],
    *,
    normalise: NormalisePhone,
    channel: str,
    hl7: Hl7Control | None = None,
) -> Ingested:
    async with pool.acquire() as conn, conn.transaction():
        return await ingest_on(conn, intakes, normalise=normalise, channel=channel, hl7=hl7)


async def ingest_hl7_group(
    pool: asyncpg.Pool,
    messages: Sequence[tuple[Sequence[Intake], Hl7Control]],
    *,
    normalise: NormalisePhone,
) -> list[Ingested | IntakeRejected]:
    """HL7 messages in ONE transaction, in order, each in a savepoint (a rejected one leaves
    the others): one durable commit for all. A later message sees what an earlier one did."""
    results: list[Ingested | IntakeRejected] = []
    async with pool.acquire() as conn, conn.transaction():
        for intakes, control in messages:
            try:
                async with conn.transaction():
                    results.append(
                        await ingest_on(
                            conn, intakes, normalise=normalise, channel="hl7", hl7=control
                        )
                    )
            except IntakeRejected as exc:
                results.append(exc)
    return results


async def ingest_on(
    conn: asyncpg.Connection,
    intakes: Sequence[Intake],
    *,
    normalise: NormalisePhone,
    channel: str,
    hl7: Hl7Control | None = None,
) -> Ingested:
    """`ingest` inside the caller's transaction."""
    outcome = Ingested(event_ids=[i.event_id for i in intakes])
    if hl7 is not None:
        fresh = await repository.claim_hl7_control_id(
            conn, sender=hl7.sender, control_id=hl7.control_id, message_type=hl7.message_type
        )
        if not fresh:
            INTAKES.labels(channel, "duplicate").inc(len(intakes) or 1)
            outcome.duplicate_message = True
            return outcome
        new_ids = {i.event_id for i in intakes}
    else:
        new_ids = await repository.claim_event_ids(conn, [i.event_id for i in intakes])
    todo = [(n, i) for n, i in enumerate(intakes) if i.event_id in new_ids]
    outcome.duplicates = [i.event_id for i in intakes if i.event_id not in new_ids]

    ledger = Ledger(normalise=normalise)
    await repository.load_ledger(conn, (k for _, i in todo for k in visit_keys(i)), ledger)
    published: list[Outgoing] = []
    rejections: list[tuple[int, Rejection]] = []
    counts = {"published": 0, "held": 0, "ignored": 0}
    for n, intake in todo:
        result = ledger.apply(intake)
        if result.rejection is not None:
            rejections.append((n, result.rejection))
            continue
        published.extend(result.published)
        outcome.held += result.held
        counts["held" if result.held else "ignored" if result.ignored else "published"] += 1
    if rejections:
        INTAKES.labels(channel, "rejected").inc(len(rejections))
        raise IntakeRejected(rejections)
    for held, rejection in ledger.dropped:
        log.warning(
            "a held intake no longer applies, dropped",
            event_id=held.event_id,
            type=held.type,
            reason=rejection.message,
        )
    await repository.save_ledger(conn, ledger)
    await add_encoded_to_outbox(conn, [outbox_row(o) for o in published])
    for outcome_name, count in counts.items():
        if count:
            INTAKES.labels(channel, outcome_name).inc(count)
    if outcome.duplicates:
        INTAKES.labels(channel, "duplicate").inc(len(outcome.duplicates))
    outcome.published = len(published)
    return outcome


def outbox_row(out: Outgoing) -> tuple[str, str, str, bytes]:
    """(event id, topic, key, payload) of an outgoing event (see `encode_new_event`)."""
    extensions = None
    if out.phone_status is not None:
        extensions = {PHONE_STATUS_ATTRIBUTE: out.phone_status}
        if out.phone_status == "unusable":
            UNUSABLE_PHONES.inc()
    payload = encode_new_event(
        out.type, out.data, event_id=out.event_id, source=out.source, subject=out.patient_id,
        time=out.time, correlation_id=out.correlation_id, extensions=extensions,
    )  # fmt: skip
    return out.event_id, EVENT_TYPES[out.type].topic, out.patient_id, payload
