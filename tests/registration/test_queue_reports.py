"""Queue reports (挂号排队) pass through registration unchanged, keyed by the queue, on their
own topic; registration keeps no state for them (the metrics service keeps the episodes)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from hospital_shared.events import QueueReported
from registration.domain import Ledger
from registration.ingest import outbox_row
from registration.intake import Intake
from registration.phones import normalise_phone

NOW = datetime(2026, 12, 7, 0, 40, tzinfo=UTC)


def report(length: int = 9) -> QueueReported:
    return QueueReported(queue_id="W3", department_code="REG", length=length, reported_at=NOW)


def test_a_queue_report_is_published_keyed_by_its_queue_on_the_queue_topic() -> None:
    book = Ledger(normalise=normalise_phone)
    result = book.apply(Intake("queue.reported", report(), "q-1", NOW, "urn:his"))
    [out] = result.published
    assert out.data == report() and out.phone_status is None
    event_id, topic, key, _ = outbox_row(out)
    assert (event_id, topic, key) == ("q-1", "hospital.queues.v1", "W3")
    assert not book.visits and not book.changed


@pytest.mark.parametrize(
    ("field", "value"),
    [("length", -1), ("length", 100_001), ("queue_id", ""), ("queue_id", "W" * 41)],
)
def test_an_impossible_report_names_its_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as bad:
        QueueReported.model_validate({**report().model_dump(), field: value})
    assert bad.value.errors()[0]["loc"] == (field,)
