"""Valid input events for tests, one builder per type."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def patient(n: int = 1, **over: Any) -> dict[str, Any]:
    return {"patient_id": f"P{n:06d}", "name": "张三", "phone": "13800138000", **over}


def envelope(
    type_: str, data: dict[str, Any], *, subject: str, event_id: str | None = None
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": "urn:his:test",
        "type": type_,
        "time": NOW.isoformat(),
        "subject": subject,
        "datacontenttype": "application/json",
        "data": data,
    }


def discharge(n: int = 1, **over: Any) -> dict[str, Any]:
    data = {
        "admission_id": f"A{n:06d}",
        "patient": patient(n),
        "department": {"code": "CARD", "name": "心内科"},
        "admitted_at": (NOW - timedelta(days=5)).isoformat(),
        "discharged_at": NOW.isoformat(),
        "disposition": "home",
        **over,
    }
    return envelope("patient.discharged", data, subject=data["patient"]["patient_id"])


def registration(n: int = 1, **over: Any) -> dict[str, Any]:
    data = {
        "registration_id": f"R{n:06d}",
        "patient": patient(n),
        "department": {"code": "CARD", "name": "心内科"},
        "visit_type": "first",
        "channel": "online",
        "registered_at": NOW.isoformat(),
        **over,
    }
    return envelope("registration.created", data, subject=data["patient"]["patient_id"])


def complaint(external_id: str, **over: Any) -> dict[str, Any]:
    data = {
        "external_id": external_id,
        "channel": "online",
        "patient": patient(1),
        "department": {"code": "CARD", "name": "心内科"},
        "description": "心内科医生态度很差，不耐烦",
        "submitted_at": NOW.isoformat(),
        **over,
    }
    return envelope("complaint.submitted", data, subject=external_id)


# Kafka's default message.max.bytes (devstack's server.properties leaves it as it is).
BROKER_MESSAGE_MAX_BYTES = 1_048_588
# The record of the incident (issue 17): the broker takes it, but not its dead-letter copy.
OVERSIZED = 1_048_400


def oversized_complaint(external_id: str, size: int = OVERSIZED) -> bytes:
    """A complaint of exactly `size` bytes: its description is far over its 4,000
    characters, so every consumer dead-letters it as a schema violation."""
    event = complaint(external_id, description="")
    skeleton = to_bytes(event)
    event["data"]["description"] = "x" * (size - len(skeleton))
    value = to_bytes(event)
    assert len(value) == size
    return value


def to_bytes(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()
