"""`POST /v1/events` in every content mode of the CloudEvents HTTP binding
(`cloudevents/bindings/http-protocol-binding.md`, 3.):

- batched: `Content-Type: application/cloudevents-batch+json`, a JSON array of events (and
  `application/json` with an array, what hospital systems sent before);
- structured: `Content-Type: application/cloudevents+json`, one event object (an object sent
  as `application/json` without `ce-` headers is read the same way);
- binary: the attributes in `ce-*` headers (`ce-specversion`, `ce-id`, `ce-source`, `ce-type`,
  `ce-time`, ...; percent-encoded UTF-8, 3.1.3.2), `data` the JSON body.

Each becomes the batch form and goes through the same validation (`registration.batch`); a
bad field of a single event is named without the batch index (`["body", "data", ...]`), a bad
attribute of a binary event by its header (`["header", "ce-time"]`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from hospital_shared.http_guard import Loc, error
from registration.batch import parse_batch_json
from registration.intake import Intake

BATCH = "application/cloudevents-batch+json"
STRUCTURED = "application/cloudevents+json"
HEADER_PREFIX = "ce-"
Parsed = tuple[list[Intake], list[dict[str, Any]]]
_EVENT = {"type": "object"}
# The request body in the OpenAPI document, one entry per content mode.
EVENTS_CONTENT = {
    BATCH: {"schema": {"type": "array", "items": _EVENT}},
    "application/json": {"schema": {"anyOf": [{"type": "array", "items": _EVENT}, _EVENT]}},
    STRUCTURED: {"schema": _EVENT},
}


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_events_request(headers: Mapping[str, str], body: bytes, *, max_events: int) -> Parsed:
    """The events of a `POST /v1/events`, or every error found (none are taken then)."""
    media = media_type(headers.get("content-type"))
    if media == BATCH:
        return parse_batch_json(body, max_events=max_events)
    attributes = {
        name.lower()[len(HEADER_PREFIX) :]: value
        for name, value in headers.items()
        if name.lower().startswith(HEADER_PREFIX)
    }
    if media == STRUCTURED or (not attributes and body.lstrip()[:1] == b"{"):
        return _structured(body, max_events=max_events)
    if attributes and media in ("", "application/json", "text/json"):
        return _binary(attributes, body, max_events=max_events)
    if attributes:
        return [], [error(["header", "content-type"], f"{media!r}: data must be JSON", "media")]
    return parse_batch_json(body, max_events=max_events)


def _structured(body: bytes, *, max_events: int) -> Parsed:
    try:
        one = isinstance(json.loads(body), dict)
    except (ValueError, RecursionError) as exc:
        return [], [error(["body"], f"not JSON: {exc}", "json_invalid")]
    if not one:
        return [], [error(["body"], "a structured event is one JSON object", "dict_type")]
    return _single(b"[" + body + b"]", binary=False, max_events=max_events)


def _binary(attributes: dict[str, str], body: bytes, *, max_events: int) -> Parsed:
    doc: dict[str, Any] = {}
    for name, raw in attributes.items():
        value = _header_value(raw)
        if value is None:
            return [], [error(["header", HEADER_PREFIX + name], "not percent-encoded UTF-8", "")]
        doc[name] = value
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return [], [error(["body"], f"not JSON: {exc}", "json_invalid")]
    doc.pop("data", None)
    document = json.dumps([{**doc, "datacontenttype": "application/json", "data": data}])
    return _single(document.encode(), binary=True, max_events=max_events)


def _header_value(raw: str) -> str | None:
    """A header's attribute value: a double-quoted string unquoted, then one round of
    percent-decoding, whose bytes must be UTF-8 (3.1.3.2)."""
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _single(batch: bytes, *, binary: bool, max_events: int) -> Parsed:
    intakes, errors = parse_batch_json(batch, max_events=max_events)
    return intakes, [
        error(_one_event_loc(e["loc"], binary=binary), e["msg"], e["type"]) for e in errors
    ]


def _one_event_loc(loc: Loc, *, binary: bool) -> Loc:
    """["body", 0, "data", "x"] -> ["body", "data", "x"]; binary: ["body", "x"] for data,
    ["header", "ce-time"] for an attribute."""
    if loc[:1] != ["body"] or len(loc) < 2 or loc[1] != 0:
        return loc
    rest = loc[2:]
    if not binary:
        return ["body", *rest]
    if rest[:1] == ["data"] or not rest:
        return ["body", *rest[1:]]
    return ["header", f"{HEADER_PREFIX}{rest[0]}", *rest[1:]]
