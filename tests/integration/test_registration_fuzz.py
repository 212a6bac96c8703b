"""Property-based fuzzing of the registration service's REST doors, over HTTP, against the real
process, PostgreSQL and Kafka: whatever a hospital system sends (any JSON, wrong types, huge
or strange strings, batches mixing good events with garbage), the answer is never a 5xx and
the process stays up. Bounded: a few hundred requests in all."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import discharge, envelope, registration
from tests.integration.services import RunningService

ENDPOINTS = ["/v1/registrations", "/v1/discharges", "/v1/complaints", "/v1/events"]
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def service(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    svc = RunningService(stack_config, "registration").start()
    svc.wait_ready()
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def http(service: RunningService, stack_env: dict[str, str]) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {stack_env['TOKEN_INTEGRATION']}"}
    with httpx.Client(base_url=service.url, headers=headers, timeout=60) as client:
        yield client


# --- what a careless or hostile sender puts in a field ----------------------------------

# NUL (PostgreSQL text cannot hold it), unpaired surrogates (not Unicode; JSON can carry them
# as \ud800 escapes), bidi overrides, astral characters, a long run.
TAINTS = ["\x00", "\ud800", "\u202e", "🏥", "\u0085", "x" * 5000]
odd_text = st.one_of(
    st.text(max_size=40),  # any code point, NUL and controls included
    st.sampled_from([*TAINTS, "", " ", "张三\x00", "null", "1e309", "-0", "a\udfffb"]),
    st.builds(
        lambda c, n: c * n, st.sampled_from(["x", "张", "🏥", "\x00"]), st.integers(0, 70_000)
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    odd_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
    max_leaves=12,
)


def valid_data(endpoint: str, n: int) -> dict[str, Any]:
    if endpoint == "/v1/registrations":
        return registration(n)["data"]
    if endpoint == "/v1/discharges":
        return discharge(n)["data"]
    return {
        "external_id": f"C{n}",
        "channel": "online",
        "patient": {"patient_id": f"P{n:06d}", "name": "赵六", "phone": "13700137000"},
        "description": "挂号排队太久",
        "submitted_at": "2026-11-23T09:30:00+08:00",
    }


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document a value could be swapped."""
    found = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += paths(value, (*prefix, i))
    return found


def value_at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


_DELETE = object()


def swapped(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    """`doc` with the value at `path` replaced (or removed, for `_DELETE`)."""
    if not path:
        return value
    head, *rest = path
    copy: Any = dict(doc) if isinstance(doc, dict) else list(doc)
    if value is _DELETE and not rest and isinstance(copy, dict):
        del copy[head]
    else:
        copy[head] = swapped(copy[head], tuple(rest), value)
    return copy


@st.composite
def near_valid(draw: st.DrawFn, endpoint: str) -> Any:
    """A valid payload with one to three fields replaced, deleted, or extra fields added."""
    doc: Any = valid_data(endpoint, uuid.uuid4().int % 10**9)
    for _ in range(draw(st.integers(1, 3))):
        where = paths(doc)
        path = draw(st.sampled_from(where))
        action = draw(st.sampled_from(["swap", "delete", "add", "taint"]))
        if action == "delete" and isinstance(path[-1], str):
            doc = swapped(doc, path, _DELETE)
        elif action == "taint" and isinstance(value_at(doc, path), str):
            doc = swapped(doc, path, value_at(doc, path) + draw(st.sampled_from(TAINTS)))
        elif action == "add" and isinstance(doc, dict):
            doc = {**doc, draw(odd_text): draw(json_values)}
        else:
            doc = swapped(doc, path, draw(json_values))
    return doc


def event_of(endpoint: str, data: Any) -> dict[str, Any]:
    type_ = {
        "/v1/registrations": "registration.created",
        "/v1/discharges": "patient.discharged",
        "/v1/complaints": "complaint.submitted",
    }[endpoint]
    return envelope(type_, data, subject="P1")


def good_event() -> dict[str, Any]:
    return registration(uuid.uuid4().int % 10**9)


batch_items = st.one_of(
    st.builds(good_event),
    json_values,
    st.sampled_from(ENDPOINTS[:3]).flatmap(
        lambda e: near_valid(e).map(lambda d: event_of(e, d))
    ),
    st.builds(good_event).flatmap(lambda ev: near_valid("/v1/registrations").map(
        lambda d: {**ev, "data": d})),
    st.builds(good_event).flatmap(lambda ev: json_values.map(
        lambda v: {**ev, "id": v} if isinstance(v, str) else {**ev, "time": v})),
)  # fmt: skip


def post(http: httpx.Client, endpoint: str, body: Any) -> httpx.Response:
    raw = json.dumps(body, ensure_ascii=True, allow_nan=False)  # lone surrogates as \udXXX
    return http.post(endpoint, content=raw, headers={"Content-Type": "application/json"})


def assert_answered(resp: httpx.Response, service: RunningService) -> None:
    assert resp.status_code < 500, f"{resp.status_code}: {resp.text[:500]}"
    assert resp.status_code in (202, 400, 413, 422), resp.text[:500]
    if resp.status_code == 422:
        assert resp.json()["errors"], "a 422 names what was wrong"
    assert service.process is not None and service.process.poll() is None


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@FUZZ
@given(data=st.data())
def test_any_json_body_is_answered_without_a_server_error(
    endpoint: str, data: st.DataObject, http: httpx.Client, service: RunningService
) -> None:
    body = data.draw(json_values | st.lists(json_values, max_size=5), label="body")
    assert_answered(post(http, endpoint, body), service)


@pytest.mark.parametrize("endpoint", ENDPOINTS[:3])
@FUZZ
@given(data=st.data())
def test_near_valid_payloads_are_accepted_or_named(
    endpoint: str, data: st.DataObject, http: httpx.Client, service: RunningService
) -> None:
    body = data.draw(near_valid(endpoint), label="body")
    assert_answered(post(http, endpoint, body), service)
    as_event = event_of(endpoint, body)
    assert_answered(post(http, "/v1/events", [as_event]), service)


@FUZZ
@given(batch=st.lists(batch_items, min_size=1, max_size=12))
def test_batches_mixing_good_events_and_garbage(
    batch: list[Any], http: httpx.Client, service: RunningService
) -> None:
    resp = post(http, "/v1/events", batch)
    assert_answered(resp, service)
    if resp.status_code == 422:
        # every error points into the batch, at an event that exists
        for error in resp.json()["errors"]:
            assert error["location"][0] == "body"
            if len(error["location"]) > 1:
                assert 0 <= error["location"][1] < len(batch)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    raw=st.binary(max_size=300) | st.sampled_from([b"[" * 100_000, b'{"a":' * 5000, b"\xff\xfe"]),
    endpoint=st.sampled_from(ENDPOINTS),
)
def test_bytes_that_are_not_json_are_answered(
    raw: bytes, endpoint: str, http: httpx.Client, service: RunningService
) -> None:
    resp = http.post(endpoint, content=raw, headers={"Content-Type": "application/json"})
    assert_answered(resp, service)


def test_the_service_still_takes_a_good_batch_after_the_fuzzing(
    http: httpx.Client, service: RunningService
) -> None:
    resp = post(http, "/v1/events", [good_event(), good_event()])
    assert resp.status_code == 202, resp.text
    assert len(resp.json()["event_ids"]) == 2
