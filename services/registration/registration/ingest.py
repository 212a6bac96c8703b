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
from hospital_shared.merge_rules import AlreadyMerged
from hospital_shared.outbox import add_encoded_to_outbox
from hospital_shared.patient_merge import MERGED, MergeNotApplied, apply_merge, load_aliases
from hospital_shared.service_events.registration import PHONE_STATUS_ATTRIBUTE, PatientsMerged
from registration import repository
from registration.domain import Ledger, NormalisePhone, visit_keys
from registration.intake import Intake, Outgoing, Rejection
from registration.patient_aliases import patient_ids, with_aliases

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
            except UNSTORABLE as exc:  # this message alone: the others' savepoints stand
                results.append(_unstorable(exc))
    return results


# What PostgreSQL refuses of one message's values whatever the retry (too long for an index,
# out of a type's range): that message is refused (AE), not the group (AR, resend later).
UNSTORABLE = (asyncpg.DataError, asyncpg.ProgramLimitExceededError)


def _unstorable(exc: BaseException) -> IntakeRejected:
    reason = f"the message cannot be stored: {type(exc).__name__}: {str(exc)[:200]}"
    return IntakeRejected([(0, Rejection("message", reason, "invalid"))])


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

    applied = _Applied()
    for run, merge in _runs(todo):
        await _apply_run(conn, run, normalise, applied)
        if merge is not None:
            await _apply_merge(conn, merge, applied)
    if applied.rejections:
        INTAKES.labels(channel, "rejected").inc(len(applied.rejections))
        raise IntakeRejected(applied.rejections)
    await add_encoded_to_outbox(conn, [outbox_row(o) for o in applied.published])
    for outcome_name, count in applied.counts.items():
        if count:
            INTAKES.labels(channel, outcome_name).inc(count)
    if outcome.duplicates:
        INTAKES.labels(channel, "duplicate").inc(len(outcome.duplicates))
    outcome.published = len(applied.published)
    outcome.held = applied.held
    return outcome


@dataclass
class _Applied:
    """What the intakes of one call did so far."""

    published: list[Outgoing] = field(default_factory=list)
    rejections: list[tuple[int, Rejection]] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {"published": 0, "held": 0, "ignored": 0}
    )
    held: int = 0


Numbered = tuple[int, Intake]


def _runs(todo: list[Numbered]) -> list[tuple[list[Numbered], Numbered | None]]:
    """The intakes cut at each merge: (the run before it, the merge). A merge moves what is
    stored, so what came before it is stored first and what comes after sees it."""
    runs: list[tuple[list[Numbered], Numbered | None]] = []
    run: list[Numbered] = []
    for item in todo:
        if item[1].type == MERGED:
            runs.append((run, item))
            run = []
        else:
            run.append(item)
    if run or not runs:
        runs.append((run, None))
    return runs


async def _apply_run(
    conn: asyncpg.Connection, run: list[Numbered], normalise: NormalisePhone, applied: _Applied
) -> None:
    """Apply a run of intakes (merged patient ids read as their survivors) to the visits."""
    if not run:
        return
    aliases = await load_aliases(conn, (p for _, i in run for p in patient_ids(i)))
    run = [(n, with_aliases(i, aliases)) for n, i in run]
    ledger = Ledger(normalise=normalise)
    await repository.load_ledger(conn, (k for _, i in run for k in visit_keys(i)), ledger)
    for n, intake in run:
        result = ledger.apply(intake)
        if result.rejection is not None:
            applied.rejections.append((n, result.rejection))
            continue
        applied.published.extend(result.published)
        applied.held += result.held
        kind = "held" if result.held else "ignored" if result.ignored else "published"
        applied.counts[kind] += 1
    _log_dropped(ledger.dropped)
    await repository.save_ledger(conn, ledger)


def _log_dropped(dropped: list[tuple[Intake, Rejection]]) -> None:
    """Held intakes that will never apply, with what finds them at the sender (the visit, the
    MSH-10 or event id, the time), so an operator can check them with the hospital system."""
    for held, rejection in dropped:
        log.warning(
            "a held intake no longer applies, dropped",
            event_id=held.event_id,
            type=held.type,
            visit_id=",".join(sorted({visit_id for _, visit_id in visit_keys(held)})),
            control_id=held.correlation_id,
            occurred_at=held.time.isoformat(),
            reason=rejection.message,
        )


async def _apply_merge(conn: asyncpg.Connection, merge: Numbered, applied: _Applied) -> None:
    """ADT^A40: the merged id's visits move to the survivor and later input for the merged
    id goes on under the survivor. A merge seen before is ignored (not published again)."""
    n, intake = merge
    data = intake.data
    assert isinstance(data, PatientsMerged)
    try:
        done = await apply_merge(
            conn, merged=data.merged_patient_id, surviving=data.surviving_patient_id,
            event_id=intake.event_id, merged_at=data.merged_at, moves=repository.PATIENT_MOVES,
        )  # fmt: skip
    except MergeNotApplied as exc:
        applied.rejections.append((n, Rejection("merged_patient_id", str(exc))))
        return
    if isinstance(done, AlreadyMerged):
        applied.counts["ignored"] += 1
        return
    if done.surviving != data.surviving_patient_id:  # merged into where the survivor went
        data = data.model_copy(update={"surviving_patient_id": done.surviving})
    out = Outgoing(
        type=MERGED, data=data, event_id=intake.event_id, time=intake.time, source=intake.source,
        patient_id=data.merged_patient_id, correlation_id=intake.correlation_id,
    )  # fmt: skip
    applied.published.append(out)
    applied.counts["published"] += 1


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
