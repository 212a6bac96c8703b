"""Each metrics handler reads its events as the contract model registered for their type:
the dispatch tables map a type's text to a handler, which mypy cannot follow, so this checks
that the model a handler names (`Received[Model]`) is the one the consumer decodes into."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

import pytest

import hospital_shared.service_events  # noqa: F401  (registers the services' event types)
from hospital_shared.events import EVENT_TYPES
from metrics import appraisal_store, handlers


def _named_models(handler: Callable[..., Any]) -> set[type]:
    """The models `handler`'s event parameter names: `Received[M]`, `Sequence[Received[M]]`,
    `M` a model or a union of models."""
    hints = typing.get_type_hints(handler)
    param = next(h for name, h in hints.items() if name not in ("conn", "return"))
    if typing.get_origin(param) is Sequence:
        (param,) = typing.get_args(param)
    (model,) = typing.get_args(param)
    if typing.get_origin(model) in (typing.Union, types.UnionType):
        return set(typing.get_args(model))
    return {model}


TABLES: dict[str, Callable[..., Any]] = {**handlers.HANDLERS, **handlers.BULK_HANDLERS}
APPRAISAL = {t: appraisal_store.handler_for(t) for t in EVENT_TYPES}


@pytest.mark.parametrize(
    ("type_", "handler"),
    [*TABLES.items(), *((t, h) for t, h in APPRAISAL.items() if h)],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
def test_a_handler_names_the_model_its_type_is_decoded_into(
    type_: str, handler: Callable[..., Any]
) -> None:
    assert type_ in EVENT_TYPES, f"{type_}: no such event type (a typo never dispatches)"
    assert EVENT_TYPES[type_].model in _named_models(handler)
