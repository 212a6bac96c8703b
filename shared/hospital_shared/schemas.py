"""JSON Schemas of the input events, for hospital integrators: `docs/events/`.

For every type in `SCHEMA_EVENT_TYPES` (what hospital systems publish, and what the registration
service publishes beside them on the input topics from HL7: `patient.details_updated`,
`patient.transferred`, `patient.merged`), `<type>.schema.json` is the JSON Schema of the whole
CloudEvents envelope with that type's payload (its `$id` is the events' `dataschema`), and `README.md` lists the topics, their types,
the record key and one example event per type. Regenerate with

    uv run python -m hospital_shared.schemas [--output docs/events]
"""

from __future__ import annotations

import argparse
import inspect
import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from hospital_shared import topics
from hospital_shared.codec import encode
from hospital_shared.events import (
    EVENT_TYPES,
    INPUT_EVENT_TYPES,
    CloudEvent,
    Complainant,
    ComplaintChannel,
    ComplaintSubmitted,
    Department,
    DischargeCancelled,
    Disposition,
    Doctor,
    FeedbackChannel,
    FeedbackKind,
    FeedbackSubmitted,
    Patient,
    PatientDischarged,
    QueueReported,
    RegistrationCancelled,
    RegistrationChannel,
    RegistrationCreated,
    RegistrationNoShow,
    VisitType,
    dataschema_of,
    make_event,
)
from hospital_shared.service_events.registration import (
    PatientDetailsUpdated,
    PatientsMerged,
    PatientTransferred,
)

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
README = "README.md"

_CST = timezone(timedelta(hours=8))
_PATIENT = Patient(patient_id="P-000123", name="张三", phone="+8613800138000")
_COMPLAINANT = Complainant.model_validate(_PATIENT.model_dump())  # the same patient, complaining
_CARDIOLOGY = Department(code="CARD", name="心内科")
_DOCTOR = Doctor(id="D-0042", name="李明")

# type -> (payload, CloudEvents source, patient id used as subject and Kafka key)
_EXAMPLES: dict[str, tuple[BaseModel, str, str]] = {
    "registration.created": (
        RegistrationCreated(
            registration_id="R-20260302-0001",
            patient=_PATIENT,
            department=_CARDIOLOGY,
            doctor=_DOCTOR,
            visit_type=VisitType.FIRST,
            channel=RegistrationChannel.APP,
            registered_at=datetime(2026, 3, 2, 8, 15, tzinfo=_CST),
            appointment_at=datetime(2026, 3, 2, 9, 30, tzinfo=_CST),
        ),
        "/his/outpatient",
        _PATIENT.patient_id,
    ),
    "registration.cancelled": (
        RegistrationCancelled(
            registration_id="R-20260302-0001",
            cancelled_at=datetime(2026, 3, 2, 8, 40, tzinfo=_CST),
            reason="patient request",
        ),
        "/his/outpatient",
        _PATIENT.patient_id,
    ),
    "registration.no_show": (
        RegistrationNoShow(registration_id="R-20260302-0001"),
        "/his/outpatient",
        _PATIENT.patient_id,
    ),
    "patient.discharged": (
        PatientDischarged(
            admission_id="A-2026-000456",
            patient=_PATIENT,
            department=_CARDIOLOGY,
            attending_doctor=_DOCTOR,
            admitted_at=datetime(2026, 2, 24, 14, 0, tzinfo=_CST),
            discharged_at=datetime(2026, 3, 2, 10, 0, tzinfo=_CST),
            disposition=Disposition.HOME,
            diagnosis="不稳定型心绞痛",
        ),
        "/his/inpatient",
        _PATIENT.patient_id,
    ),
    "discharge.cancelled": (
        DischargeCancelled(admission_id="A-2026-000456"),
        "/his/inpatient",
        _PATIENT.patient_id,
    ),
    "complaint.submitted": (
        ComplaintSubmitted(
            external_id="C-2026-0789",
            channel=ComplaintChannel.PHONE,
            patient=_COMPLAINANT,
            department=_CARDIOLOGY,
            category="waiting time",
            description="候诊时间超过两小时，无人告知延误原因。",
            submitted_at=datetime(2026, 3, 2, 11, 5, tzinfo=_CST),
        ),
        "/crm/complaints",
        _PATIENT.patient_id,
    ),
}
_EXAMPLES["feedback.submitted"] = (
    FeedbackSubmitted(
        external_id="F-2026-0101",
        kind=FeedbackKind.PRAISE,
        channel=FeedbackChannel.ONLINE,
        patient=_COMPLAINANT,
        department=_CARDIOLOGY,
        staff_id="N-0042",
        category="nursing_care",
        text="夜班护士耐心细致，谢谢！",
        submitted_at=datetime(2026, 3, 2, 11, 20, tzinfo=_CST),
    ),
    "/crm/feedback",
    _PATIENT.patient_id,
)
_EXAMPLES["queue.reported"] = (
    QueueReported(
        queue_id="REG-W03",
        department_code="REG",
        length=9,
        reported_at=datetime(2026, 3, 2, 8, 40, tzinfo=_CST),
        queue_name="门诊挂号3号窗口",
    ),
    "/his/registration-desk",
    "REG-W03",  # the queue, not a patient: a queue's reports keep their order
)


_EXAMPLES["patient.details_updated"] = (
    PatientDetailsUpdated(
        patient=_PATIENT.model_copy(update={"phone": "+8613900139000"}),
        updated_at=datetime(2026, 3, 2, 9, 0, tzinfo=_CST),
        visit_id="V-2026-000456",
    ),
    "/hospital/registration",
    _PATIENT.patient_id,
)
_EXAMPLES["patient.transferred"] = (
    PatientTransferred(
        patient_id=_PATIENT.patient_id,
        admission_id="A-2026-000456",
        department=Department(code="ICU", name="重症监护室"),
        ward="ICU-2",
        bed="07",
        prior_department=_CARDIOLOGY,
        transferred_at=datetime(2026, 2, 26, 16, 30, tzinfo=_CST),
    ),
    "/hospital/registration",
    _PATIENT.patient_id,
)
_EXAMPLES["patient.merged"] = (
    PatientsMerged(
        surviving_patient_id=_PATIENT.patient_id,
        merged_patient_id="P-000999",
        merged_at=datetime(2026, 3, 2, 9, 30, tzinfo=_CST),
    ),
    "/hospital/registration",
    "P-000999",  # keyed by the merged id, so it follows that id's events
)

# Every event a consumer reads from the input topics: the hospital systems' and those the
# registration service publishes there itself (from HL7 ADT^A08, A02 and A40).
SCHEMA_EVENT_TYPES: tuple[str, ...] = (
    *INPUT_EVENT_TYPES,
    "patient.details_updated",
    "patient.transferred",
    "patient.merged",
)


def _key_name(topic: str) -> str:
    """What a topic's record key is: the patient id, except for queue reports (the queue) and
    for complaints and feedback naming no patient id (anonymous, or a relative's or visitor's
    by name and phone): their external id."""
    if topic == topics.QUEUE_REPORTS:
        return "queue id"
    if topic == topics.COMPLAINTS_IN:
        return "patient id (the external id when there is none)"
    return "patient id"


def example_event(type_: str) -> CloudEvent[Any]:
    """A valid, deterministic example event of `type_` (built through `make_event`)."""
    data, source, patient_id = _EXAMPLES[type_]
    return make_event(
        type_,
        data,
        source=source,
        subject=patient_id,
        time=datetime(2026, 3, 2, 12, 0, tzinfo=_CST),
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:hospital:example:{type_}")),
    )


def example_key(type_: str) -> str:
    """The Kafka record key of the example: the patient id."""
    return _EXAMPLES[type_][2]


def example_json(type_: str) -> dict[str, Any]:
    """The example as the platform puts it on the wire."""
    doc: dict[str, Any] = json.loads(encode(example_event(type_)))
    return doc


def event_schema(type_: str) -> dict[str, Any]:
    """JSON Schema of the envelope of `type_` with its payload, `type` pinned to a const."""
    event_type = EVENT_TYPES[type_]
    model = event_type.model
    schema = CloudEvent[model].model_json_schema()  # type: ignore[valid-type]
    schema["properties"]["type"] = {
        "const": type_,
        "title": "Type",
        "type": "string",
        "description": "CloudEvents type of this event",
    }
    summary = inspect.cleandoc(model.__doc__ or "")
    description = (
        f"CloudEvents 1.0 envelope (structured JSON mode) of a `{type_}` event, published on the "
        f"Kafka topic `{event_type.topic}` with the {_key_name(event_type.topic)} as the record key."
    )
    if summary:
        description += f" `data`: {summary}"
    if type_ not in INPUT_EVENT_TYPES:
        description += " Published by the registration service (from HL7), not by hospital systems."
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": dataschema_of(type_),
        "title": type_,
        "description": description,
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
        "examples": [example_json(type_)],
    }


def schema_filename(type_: str) -> str:
    return f"{type_}.schema.json"


def _dump(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_readme() -> str:
    lines = [
        "# Input events",
        "",
        "What hospital systems publish to the platform. Generated by",
        "`uv run python -m hospital_shared.schemas`; do not edit by hand.",
        "",
        "Every event is a [CloudEvents 1.0](https://github.com/cloudevents/spec) envelope in",
        "structured JSON mode (`datacontenttype` `application/json`), UTF-8 encoded as the Kafka",
        "record value. **The record key is the patient id** (UTF-8), so that all events of one",
        "patient stay in order on one partition; a complaint or feedback naming no patient id",
        "(anonymous, or a relative or visitor by name and phone) is keyed by its `external_id`.",
        "Times are RFC 3339 with a UTC offset.",
        "Events that fail validation go to the topic's dead-letter topic (`<topic>.dlq`).",
        "",
        "Kafka binding: a record with `content-type: application/cloudevents+json` (or no",
        "CloudEvents header at all) is a structured-mode event; a record with `ce_*` headers",
        "(`ce_specversion`, `ce_id`, `ce_source`, `ce_type`, `ce_time`, ...) is a binary-mode",
        "event whose value is `data` (`content-type: application/json`). Every event the",
        "platform publishes is structured, with that `content-type`, and its `dataschema` is the",
        "`$id` of its schema here. `patient.details_updated`, `patient.transferred` and",
        "`patient.merged` are published by the registration service (from HL7), not by",
        "hospital systems.",
        "",
        "| Topic | Partitions | Event types | Key |",
        "| --- | --- | --- | --- |",
    ]
    by_topic = {
        t: [e for e in SCHEMA_EVENT_TYPES if EVENT_TYPES[e].topic == t] for t in topics.INPUT_TOPICS
    }
    for topic, types in by_topic.items():
        names = ", ".join(f"[`{t}`]({schema_filename(t)})" for t in types)
        lines.append(f"| `{topic}` | {topics.INPUT_PARTITIONS} | {names} | {_key_name(topic)} |")
    for topic, types in by_topic.items():
        lines += ["", f"## `{topic}`"]
        for type_ in types:
            model = EVENT_TYPES[type_].model
            summary = inspect.cleandoc(model.__doc__ or "")
            lines += ["", f"### `{type_}`", ""]
            if summary:
                lines += [summary, ""]
            lines += [
                f"Payload `{model.__name__}`; schema [`{schema_filename(type_)}`]({schema_filename(type_)}).",
                f"Example, key `{example_key(type_)}`:",
                "",
                "```json",
                _dump(example_json(type_)).rstrip("\n"),
                "```",
            ]
    return "\n".join(lines) + "\n"


def export_schemas(folder: Path) -> list[Path]:
    """Write one schema per input event type and the README into `folder`; drop stale schemas."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for type_ in SCHEMA_EVENT_TYPES:
        path = folder / schema_filename(type_)
        path.write_text(_dump(event_schema(type_)), encoding="utf-8")
        written.append(path)
    for stale in set(folder.glob("*.schema.json")) - set(written):
        stale.unlink()
    readme = folder / README
    readme.write_text(render_readme(), encoding="utf-8")
    written.append(readme)
    return written


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the input events' JSON Schemas")
    parser.add_argument("--output", type=Path, default=Path("docs/events"))
    args = parser.parse_args(argv)
    for path in export_schemas(args.output):
        print(path)


if __name__ == "__main__":
    main()
