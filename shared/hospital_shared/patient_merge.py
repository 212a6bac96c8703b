"""Patient merges (ADT^A40, `patient.merged`) in a consuming service: its rows move to the
surviving id and later events naming the merged id are read as naming the surviving one.

`following_merges(handle_batch, moves)` wraps a service's batch handler. Inside the reliable
consumer's transaction (so exactly once with the inbox row, and never half done):
- a `patient.merged` event runs the service's `moves` (SQL statements with `$1` = merged id,
  `$2` = surviving id) and records the alias (`merge_rules`); a merge seen before under
  another event id changes nothing, a refused one raises `MergeRefused` (the consumer
  retries it, then dead-letters it with the reason; what follows is not held up);
- every other event has its patient id (`data.patient_id`, `data.patient.patient_id`,
  `subject`) mapped through the aliases before the handler sees it.
Events are handled in order: those before a merge, the merge, those after it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import asyncpg
import structlog
from pydantic import BaseModel

from hospital_shared.events import CloudEvent
from hospital_shared.merge_rules import AlreadyMerged, MergePlan, MergeRefused, plan_merge

log = structlog.get_logger(__name__)

MERGED = "patient.merged"
BatchHandler = Callable[[asyncpg.Connection, Sequence[CloudEvent[Any]]], Awaitable[None]]


class MergeNotApplied(Exception):
    """A merge refused by the rules; its text is the reason (no patient data in it)."""


def move_column(table: str, column: str = "patient_id") -> str:
    """The move of a plain patient-id column."""
    return f"UPDATE {table} SET {column} = $2 WHERE {column} = $1"


def lock_in_order(table: str, order_by: str, column: str = "patient_id") -> str:
    """The merged id's rows locked in `order_by` order, a statement to run before their move.
    The move's UPDATE locks rows in the order it finds them; a transaction of the service that
    locks some of the same rows in its own order (by key) deadlocked with it."""
    # `$2` is named only because every move is given both ids (merged and surviving differ).
    return (
        f"SELECT 1 FROM {table} WHERE {column} = $1 AND {column} <> $2"
        f" ORDER BY {order_by} FOR UPDATE"
    )


def move_unique(table: str, column: str = "patient_id") -> list[str]:
    """The move of a column that is unique per patient: the survivor's row is kept and the
    merged id's dropped when both exist (what to combine first is the service's own SQL)."""
    drop = (
        f"DELETE FROM {table} WHERE {column} = $1"
        f" AND EXISTS (SELECT 1 FROM {table} WHERE {column} = $2)"
    )
    return [drop, move_column(table, column)]


_ALIASES_LOCK = "SELECT pg_advisory_xact_lock{}(hashtext('patient_aliases'))"


async def lock_aliases(conn: asyncpg.Connection, *, exclusive: bool = False) -> None:
    """Hold the aliases until the transaction ends: a merge (exclusive) waits for the
    transactions that read them (shared) and they for it, so a row written under an old id
    meanwhile is never missed by the merge's moves."""
    await conn.execute(_ALIASES_LOCK.format("" if exclusive else "_shared"))


async def load_aliases(conn: asyncpg.Connection, patient_ids: Iterable[str]) -> dict[str, str]:
    """Aliases of `patient_ids` and those pointing at them (what `plan_merge` needs)."""
    ids = sorted(set(patient_ids))
    if not ids:
        return {}
    await lock_aliases(conn)
    rows = await conn.fetch(
        "SELECT merged_id, surviving_id FROM patient_aliases"
        " WHERE merged_id = ANY($1::text[]) OR surviving_id = ANY($1::text[])",
        ids,
    )
    return {r["merged_id"]: r["surviving_id"] for r in rows}


async def record_merge(
    conn: asyncpg.Connection, plan: MergePlan, *, event_id: str, merged_at: Any
) -> None:
    """Write the aliases of an applied plan: chains collapsed onto the survivor."""
    await conn.execute(
        "UPDATE patient_aliases SET surviving_id = $2 WHERE surviving_id = $1",
        plan.merged,
        plan.surviving,
    )
    await conn.execute(
        "INSERT INTO patient_aliases (merged_id, surviving_id, event_id, merged_at)"
        " VALUES ($1, $2, $3, $4)",
        plan.merged,
        plan.surviving,
        event_id,
        merged_at,
    )


async def apply_merge(
    conn: asyncpg.Connection,
    *,
    merged: str,
    surviving: str,
    event_id: str,
    merged_at: Any,
    moves: Sequence[str],
) -> MergePlan | AlreadyMerged:
    """Move the service's rows and record the alias; MergeNotApplied when refused."""
    await lock_aliases(conn, exclusive=True)
    outcome = plan_merge(
        await load_aliases(conn, (merged, surviving)), merged=merged, surviving=surviving
    )
    if isinstance(outcome, MergeRefused):
        raise MergeNotApplied(outcome.reason)
    if isinstance(outcome, AlreadyMerged):
        log.info("patient merge seen before, nothing to move", event_id=event_id)
        return outcome
    moved = 0
    for statement in moves:
        status = await conn.execute(statement, outcome.merged, outcome.surviving)
        moved += _row_count(status)
    await record_merge(conn, outcome, event_id=event_id, merged_at=merged_at)
    log.info("patients merged", event_id=event_id, rows_moved=moved)
    return outcome


async def resolve_patients(
    conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]]
) -> list[CloudEvent[Any]]:
    """`events` with every merged patient id replaced by its surviving id."""
    ids = {pid for event in events for pid in _patient_ids(event)}
    if not ids:
        return list(events)
    await lock_aliases(conn)
    rows = await conn.fetch(
        "SELECT merged_id, surviving_id FROM patient_aliases WHERE merged_id = ANY($1::text[])",
        sorted(ids),
    )
    aliases = {r["merged_id"]: r["surviving_id"] for r in rows}
    return [with_aliases(event, aliases) if aliases else event for event in events]


def with_aliases(event: CloudEvent[Any], aliases: dict[str, str]) -> CloudEvent[Any]:
    """`event` naming surviving ids (pure; the event itself when it names no merged id)."""
    data = event.data
    update: dict[str, Any] = {}
    patient_id = getattr(data, "patient_id", None)
    if isinstance(patient_id, str) and patient_id in aliases:
        update["patient_id"] = aliases[patient_id]
    patient = getattr(data, "patient", None)
    if patient is not None and getattr(patient, "patient_id", None) in aliases:
        update["patient"] = patient.model_copy(update={"patient_id": aliases[patient.patient_id]})
    envelope: dict[str, Any] = {}
    if update:
        envelope["data"] = data.model_copy(update=update)
    if event.subject in aliases:
        envelope["subject"] = aliases[event.subject]
    return event.model_copy(update=envelope) if envelope else event


def is_merge(event: CloudEvent[Any]) -> bool:
    return event.type == MERGED


def following_merges(handle_batch: BatchHandler, moves: Sequence[str]) -> BatchHandler:
    """`handle_batch` with merges applied and merged ids mapped (see the module doc)."""

    async def handle(conn: asyncpg.Connection, events: Sequence[CloudEvent[Any]]) -> None:
        run: list[CloudEvent[Any]] = []
        for event in events:
            if event.type != MERGED:
                run.append(event)
                continue
            if run:
                await handle_batch(conn, await resolve_patients(conn, run))
                run = []
            data = event.data
            await apply_merge(
                conn, merged=data.merged_patient_id, surviving=data.surviving_patient_id,
                event_id=event.id, merged_at=data.merged_at, moves=moves,
            )  # fmt: skip
        if run:
            await handle_batch(conn, await resolve_patients(conn, run))

    return handle


def one_at_a_time(handle_batch: BatchHandler) -> Callable[..., Awaitable[None]]:
    """The single-event `handle` of a batch handler."""

    async def handle(conn: asyncpg.Connection, event: CloudEvent[Any]) -> None:
        await handle_batch(conn, [event])

    return handle


def _patient_ids(event: CloudEvent[Any]) -> list[str]:
    ids = [event.subject] if event.subject else []
    data = event.data
    patient_id = _attribute(data, "patient_id")
    if isinstance(patient_id, str):
        ids.append(patient_id)
    patient = _attribute(data, "patient")
    if patient is not None and isinstance(_attribute(patient, "patient_id"), str):
        ids.append(patient.patient_id)
    return ids


def _attribute(obj: Any, name: str) -> Any:
    """`getattr(obj, name, None)`, without asking a model that cannot have `name`: pydantic
    answers a missing attribute by raising AttributeError from its `__getattr__`, which cost
    more than the rest of reading an event's patient ids (every registration has no
    `data.patient_id`)."""
    return getattr(obj, name, None) if _may_have(type(obj), name) else None


_MAY_HAVE: dict[tuple[type, str], bool] = {}


def _may_have(cls: type, name: str) -> bool:
    """Whether an instance of `cls` may have attribute `name`: any object but a pydantic model
    that keeps no extra members, which has only its fields and its class's attributes."""
    found = _MAY_HAVE.get((cls, name))
    if found is None:
        found = _MAY_HAVE[(cls, name)] = (
            not issubclass(cls, BaseModel)
            or cls.model_config.get("extra") == "allow"
            or name in cls.model_fields
            or hasattr(cls, name)
        )
    return found


def _row_count(status: str) -> int:
    """Rows an UPDATE/DELETE touched, from asyncpg's status (`UPDATE 3`; a lock's `SELECT 3`
    moved nothing)."""
    if status.startswith("SELECT"):
        return 0
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0
