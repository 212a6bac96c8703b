"""The generated documents stay fresh and correct: docs/events (JSON Schemas and examples of the
input events), docs/asyncapi (each service's AsyncAPI) and docs/configuration.md."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from hospital_shared import topics
from hospital_shared.asyncapi_export import asyncapi_document
from hospital_shared.codec import InvalidEvent, decode
from hospital_shared.config_docs import render_markdown, settings_class
from hospital_shared.events import EVENT_TYPES, CloudEvent
from hospital_shared.schemas import (
    README,
    SCHEMA_EVENT_TYPES,
    event_schema,
    example_event,
    example_json,
    export_schemas,
    schema_filename,
)

ROOT = Path(__file__).resolve().parents[1]
EVENTS_DOCS = ROOT / "docs" / "events"
ASYNCAPI_DOCS = ROOT / "docs" / "asyncapi"
SERVICES = ("registration", "followup", "complaints", "notifications", "metrics")
CONFIGURED = (*SERVICES, "console")  # docs/configuration.md: the console's settings too


# --- a small validator for the JSON Schema subset pydantic emits (jsonschema is not installed)


def schema_errors(
    doc: Any, schema: dict[str, Any], root: dict[str, Any], at: str = "$"
) -> list[str]:
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return schema_errors(doc, target, root, at)
    errors: list[str] = []
    if "anyOf" in schema:  # besides the schema's other keywords (the complainant has both)
        branches = [schema_errors(doc, s, root, at) for s in schema["anyOf"]]
        if all(branches):
            errors.append(f"{at}: matches no anyOf branch")
    if "const" in schema and doc != schema["const"]:
        errors.append(f"{at}: {doc!r} is not {schema['const']!r}")
    if "enum" in schema and doc not in schema["enum"]:
        errors.append(f"{at}: {doc!r} not in {schema['enum']}")
    kinds = {"object": dict, "string": str, "boolean": bool, "null": type(None), "array": list}
    kind = schema.get("type")
    if kind in kinds and not isinstance(doc, kinds[kind]):
        return [*errors, f"{at}: not of type {kind}"]
    if isinstance(doc, str):
        if len(doc) < schema.get("minLength", 0) or len(doc) > schema.get("maxLength", len(doc)):
            errors.append(f"{at}: length {len(doc)} out of bounds")
        if schema.get("format") == "date-time":
            parsed = datetime.fromisoformat(doc)
            if parsed.tzinfo is None:
                errors.append(f"{at}: date-time without offset")
    if isinstance(doc, dict):
        properties = schema.get("properties", {})
        errors += [f"{at}: {k} is required" for k in schema.get("required", []) if k not in doc]
        for key, value in doc.items():
            if key in properties:
                errors += schema_errors(value, properties[key], root, f"{at}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{at}: unexpected {key}")
    return errors


def _validate(doc: dict[str, Any], type_: str) -> None:
    """`doc` must pass the platform's decoder, the pydantic model and the JSON Schema."""
    event = decode(json.dumps(doc).encode(), expected_topic=EVENT_TYPES[type_].topic)
    assert event.type == type_
    CloudEvent[EVENT_TYPES[type_].model].model_validate(doc)  # type: ignore[misc]
    schema = event_schema(type_)
    assert schema_errors(doc, schema, schema) == []


def _required(model: type[BaseModel]) -> list[str]:
    return [name for name, field in model.model_fields.items() if field.is_required()]


# --- docs/events ---------------------------------------------------------------------


def test_event_docs_match_a_fresh_export(tmp_path: Path) -> None:
    fresh = {p.name: p.read_text(encoding="utf-8") for p in export_schemas(tmp_path)}
    committed = {p.name: p.read_text(encoding="utf-8") for p in EVENTS_DOCS.iterdir()}
    assert committed == fresh, (
        "docs/events is stale: run `uv run python -m hospital_shared.schemas`"
    )
    assert set(fresh) == {schema_filename(t) for t in SCHEMA_EVENT_TYPES} | {README}


@pytest.mark.parametrize("type_", SCHEMA_EVENT_TYPES)
def test_schema_describes_the_envelope_and_payload(type_: str) -> None:
    schema = event_schema(type_)
    model = EVENT_TYPES[type_].model
    assert schema["properties"]["type"]["const"] == type_
    assert schema["title"] == type_ and schema["description"]
    assert schema["required"] == _required(CloudEvent[model])  # type: ignore[valid-type]
    data = schema["$defs"][model.__name__]
    assert data["required"] == _required(model)
    assert set(data["properties"]) == set(model.model_fields)


@pytest.mark.parametrize("type_", SCHEMA_EVENT_TYPES)
def test_example_is_valid(type_: str) -> None:
    assert example_event(type_).type == type_
    _validate(example_json(type_), type_)
    for doc in event_schema(type_)["examples"]:
        _validate(doc, type_)


@pytest.mark.parametrize("type_", ["complaint.submitted", "feedback.submitted"])
def test_a_relative_without_a_patient_id_is_valid_by_name_and_phone_alone(type_: str) -> None:
    """A complainant the hospital has no patient id for (a relative, a visitor) passes the
    decoder, the model and the published schema; without a phone, none of them takes it."""
    doc = example_json(type_)
    doc["data"]["patient"] = {"name": "陈静", "phone": "+8613912345678"}
    _validate(doc, type_)
    del doc["data"]["patient"]["phone"]
    schema = event_schema(type_)
    assert schema_errors(doc, schema, schema) == ["$.data.patient: matches no anyOf branch"]
    with pytest.raises(InvalidEvent):
        decode(json.dumps(doc).encode())


@pytest.mark.parametrize("type_", ["complaint.submitted", "feedback.submitted"])
def test_a_patient_by_id_alone_is_valid_and_a_null_id_is_not_one(type_: str) -> None:
    """A patient by id needs no name or phone in the decoder, the model and the published
    schema alike; a `null` id names nobody, so a relative's name and phone are then needed."""
    doc = example_json(type_)
    doc["data"]["patient"] = {"patient_id": "P-000123"}
    _validate(doc, type_)
    doc["data"]["patient"] = {"patient_id": None, "name": "陈静"}
    schema = event_schema(type_)
    assert schema_errors(doc, schema, schema) == ["$.data.patient: matches no anyOf branch"]
    with pytest.raises(InvalidEvent):
        decode(json.dumps(doc).encode())


def _readme_examples() -> dict[str, dict[str, Any]]:
    text = (EVENTS_DOCS / README).read_text(encoding="utf-8")
    found = re.findall(r"^### `([^`]+)`\n.*?```json\n(.*?)\n```", text, flags=re.S | re.M)
    return {type_: json.loads(body) for type_, body in found}


def test_readme_lists_every_topic_and_type() -> None:
    text = (EVENTS_DOCS / README).read_text(encoding="utf-8")
    for topic in topics.INPUT_TOPICS:
        assert f"## `{topic}`" in text
    assert sorted(_readme_examples()) == sorted(SCHEMA_EVENT_TYPES)
    assert "record key is the patient id" in text


@pytest.mark.parametrize("type_", SCHEMA_EVENT_TYPES)
def test_readme_example_is_valid(type_: str) -> None:
    _validate(_readme_examples()[type_], type_)


@pytest.mark.parametrize("type_", SCHEMA_EVENT_TYPES)
def test_a_broken_example_is_rejected_by_both(type_: str) -> None:
    """The checks above can fail: a missing required field or a wrong type is caught."""
    schema = event_schema(type_)
    doc = example_json(type_)
    missing = {
        **doc,
        "data": {
            k: v for k, v in doc["data"].items() if k != _required(EVENT_TYPES[type_].model)[0]
        },
    }
    assert schema_errors(missing, schema, schema)
    with pytest.raises(InvalidEvent):
        decode(json.dumps(missing).encode())
    other = next(t for t in SCHEMA_EVENT_TYPES if t != type_)
    assert schema_errors({**doc, "type": other}, schema, schema)


# --- docs/asyncapi and docs/configuration.md ------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_asyncapi_matches_the_runtime(service: str) -> None:
    committed = (ASYNCAPI_DOCS / f"{service}.json").read_text(encoding="utf-8")
    assert committed == asyncapi_document(service), (
        f"docs/asyncapi/{service}.json is stale: run "
        f"`uv run python -m hospital_shared.asyncapi_export {' '.join(SERVICES)}`"
    )
    assert json.loads(committed)["info"]["title"] == f"{service} service"


def test_asyncapi_has_exactly_the_services() -> None:
    assert sorted(p.stem for p in ASYNCAPI_DOCS.glob("*.json")) == sorted(SERVICES)


def test_configuration_doc_is_fresh() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == render_markdown({s: settings_class(s) for s in CONFIGURED}), (
        "docs/configuration.md is stale: run "
        f"`uv run python -m hospital_shared.config_docs {' '.join(CONFIGURED)}`"
    )
