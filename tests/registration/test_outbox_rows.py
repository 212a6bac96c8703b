"""The outbox payload the registration service writes is the canonical CloudEvent encoding."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hospital_shared.codec import decode, encode
from hospital_shared.events import RegistrationCreated, make_event
from registration.ingest import outbox_row
from registration.intake import Outgoing
from tests.factories import registration


def test_outbox_payload_is_the_canonical_event_with_its_phone_status() -> None:
    data = RegistrationCreated.model_validate(registration(7)["data"])
    when = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    out = Outgoing("registration.created", data, "e-7", when, "urn:his", "P000007", "c-1", "valid")
    event_id, topic, key, payload = outbox_row(out)
    expected = make_event(
        "registration.created", data, source="urn:his", subject="P000007", time=when,
        correlation_id="c-1", event_id="e-7",
    ).model_copy(update={"phonestatus": "valid"})  # fmt: skip
    assert (event_id, topic, key) == ("e-7", "hospital.registrations.v1", "P000007")
    assert json.loads(payload) == json.loads(encode(expected))
    assert decode(payload, expected_topic=topic).data == data
