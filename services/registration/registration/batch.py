"""Validation of what hospital systems POST: a batch of CloudEvents, or one event's data.

The common case, a good batch, is validated straight from the request bytes by one pydantic
TypeAdapter (JSON parsed and checked in one pass, no per-event Python dicts). Anything it
rejects goes through the careful path, event by event, which names every bad field with its
index in the batch; both paths accept exactly the same batches.

Text PostgreSQL cannot store (NUL) or that is not Unicode (an unpaired surrogate, which JSON's
`\\uD800` escapes can carry) is a bad field like any other: 422, never a failed write.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, ValidationError, create_model

from hospital_shared.events import EVENT_TYPES, INPUT_EVENT_TYPES, CloudEvent
from hospital_shared.http_guard import Loc, error, unstorable
from registration.intake import Intake


def _typed_event(type_: str) -> type[CloudEvent[Any]]:
    """The CloudEvent of one input type, its `type` a literal: pydantic then picks the variant
    of the batch's union by looking at the JSON directly (three times faster than a callable
    discriminator, which has to turn each event into Python objects first)."""
    model: Any = EVENT_TYPES[type_].model
    literal: Any = Literal[type_]
    typed = create_model(f"{model.__name__}Event", __base__=CloudEvent[model], type=(literal, ...))
    return typed  # type: ignore[return-value]


_ANY_INPUT_EVENT = Union[tuple(_typed_event(t) for t in INPUT_EVENT_TYPES)]  # type: ignore[valid-type]  # noqa: UP007
_BATCH: TypeAdapter[list[CloudEvent[Any]]] = TypeAdapter(
    list[Annotated[_ANY_INPUT_EVENT, Field(discriminator="type")]]  # type: ignore[valid-type]
)


def parse_batch_json(body: bytes, *, max_events: int) -> tuple[list[Intake], list[dict[str, Any]]]:
    """Validate a request body that should be a JSON array of input CloudEvents."""
    if b"\\u0000" not in body:  # JSON's only way to carry a NUL: leave it to the careful path
        try:
            events = _BATCH.validate_json(body)
        except ValidationError:
            events = None
        if events is not None and 0 < len(events) <= max_events:
            if len({e.id for e in events}) == len(events):
                return [
                    Intake(e.type, e.data, e.id, e.time, e.source, e.correlationid) for e in events
                ], []
    try:
        docs = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return [], [error(["body"], f"not JSON: {exc}", "json_invalid")]
    if not isinstance(docs, list):
        return [], [error(["body"], "the body must be a JSON array of CloudEvents", "list_type")]
    return parse_batch(docs, max_events=max_events)


def parse_batch(events: list[Any], *, max_events: int) -> tuple[list[Intake], list[dict[str, Any]]]:
    """Validate every event of a batch; return the intakes, or every error found."""
    if not events:
        return [], [error(["body"], "the batch is empty", "too_short")]
    if len(events) > max_events:
        return [], [error(["body"], f"at most {max_events} events per batch", "too_long")]
    intakes: list[Intake] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, doc in enumerate(events):
        if not isinstance(doc, dict):
            errors.append(error(["body", n], "an event must be a JSON object", "dict_type"))
            continue
        type_ = doc.get("type")
        if type_ not in INPUT_EVENT_TYPES:
            shown = type_ if isinstance(type_, str | int | float | None) else type(type_).__name__
            errors.append(
                error(["body", n, "type"], f"unknown input event type {shown!r}", "unknown_type")
            )
            continue
        bad_text = unstorable_text(doc, ["body", n])
        if bad_text:
            errors.extend(bad_text)
            continue
        model = EVENT_TYPES[type_].model
        try:
            event = CloudEvent[model].model_validate(doc)  # type: ignore[valid-type]
        except ValidationError as exc:
            errors.extend(
                error(["body", n, *e["loc"]], e["msg"], e["type"])
                for e in exc.errors(include_url=False, include_input=False)
            )
            continue
        if event.id in seen:
            errors.append(error(["body", n, "id"], "the id repeats within the batch", "repeat"))
            continue
        seen.add(event.id)
        intakes.append(
            Intake(type_, event.data, event.id, event.time, event.source, event.correlationid)
        )
    return intakes, errors


def unstorable_text(doc: Any, loc: Loc) -> list[dict[str, Any]]:
    """An error for every string (key or value) in `doc` that cannot be stored as text, and
    every number nothing can store."""
    return list(unstorable(doc, loc))
