"""Every route of a service's OpenAPI document, called with values nothing downstream can take.

For each operation: an example request built from its schema, then the same request with one
value at a time replaced by a hostile one (in the path, the query or any place of the JSON
body), then bodies that are not JSON the models expect. Schemathesis-style generators rarely
produce these (NUL, lone surrogates, integers past 64 or 32 bits, years 9999 and 0001, blank
or oversized text, null for a field that may be left out), and each of them was a 500 somewhere.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

BODY_VALUES: list[Any] = [
    "\x00", "a\x00b", "\ud800", 2**63, -(2**63) - 1, 2**31, -1, 0, True, None, [], {}, "", " ",
    "9999-12-31", "0001-01-01", "9999-12-31T23:59:59-10:00", "0001-01-01T00:00:00+14:00",
    "NaN", "x" * 5000,
]  # fmt: skip
# Raw path and query values, percent-encoded as a client would send them.
URL_VALUES = [
    "%00", "a%00", "%ED%A0%80", "%FF", str(2**63), str(2**31), str(-(2**63) - 1),
    "9999-12-31", "0001-01-01", "9999-12", "0001-01", "x" * 3000, "%20", "-1",
]  # fmt: skip
RAW_BODIES = [
    b"[" * 5000 + b"]" * 5000, b'{"a":' * 5000 + b"1" + b"}" * 5000, b"\xff\xfe",
    b'{"\\ud800": 1}', b"NaN", b"1e99999", b'"' + b"\\u0000" * 100 + b'"', b"",
]  # fmt: skip


@dataclass(frozen=True)
class Failure:
    method: str
    url: str
    sent: str
    status: int
    answer: str

    def __str__(self) -> str:
        return f"{self.method} {self.url[:120]} {self.sent[:160]} -> {self.status} {self.answer}"


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def example(spec: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> Any:
    """A plausible value for `schema`: its first choice, enum value or default."""
    schema = _resolve(spec, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema and depth < 8:
            options = [o for o in schema[key] if _resolve(spec, o).get("type") != "null"]
            return example(spec, (options or schema[key])[0], depth + 1)
    if "enum" in schema or "const" in schema:
        return schema.get("const", (schema.get("enum") or [None])[0])
    if schema.get("default") is not None:
        return schema["default"]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {}) if depth < 8 else {}
        return {k: example(spec, v, depth + 1) for k, v in props.items()}
    if kind == "array":
        return [example(spec, schema.get("items", {}), depth + 1)]
    simple = {"integer": max(schema.get("minimum", 1), 1), "number": 1.0, "boolean": False}
    if kind in simple:
        return simple[kind]
    return {"date-time": "2026-01-02T10:00:00+08:00", "date": "2026-01-02"}.get(
        schema.get("format", ""), "P1"
    )


def places(doc: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON document: the whole, each member and each item, recursively."""
    yield at
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    for key, value in items:
        yield from places(value, (*at, key))


def replaced(doc: Any, at: tuple[Any, ...], value: Any) -> Any:
    if not at:
        return value
    doc = copy.deepcopy(doc)
    parent = doc
    for key in at[:-1]:
        parent = parent[key]
    parent[at[-1]] = value
    return doc


def _url(path: str, path_values: dict[str, str], query_values: dict[str, str]) -> str:
    for name, value in path_values.items():
        path = path.replace("{" + name + "}", value)
    return path + "?" + "&".join(f"{k}={v}" for k, v in query_values.items())


# A real request to start from, per operation ("PUT /v1/staff/{staff_id}"): path values,
# query values and a body that pass validation, so the hostile value is the only bad one and
# reaches the route's code. Without one, the schema's example (ids "1", text "P1").
Seeds = dict[str, dict[str, Any]]


def requests(spec: dict[str, Any], seeds: Seeds) -> Iterator[tuple[str, str, bytes | None]]:
    """(method, url, body) for every hostile request to every operation of `spec`."""
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            seed = seeds.get(f"{method.upper()} {path}", {})
            params = op.get("parameters", [])
            in_path = {p["name"]: "1" for p in params if p["in"] == "path"} | seed.get("path", {})
            query = {
                p["name"]: str(example(spec, p.get("schema", {})))
                for p in params
                if p["in"] == "query" and p.get("required")
            } | seed.get("query", {})
            schema = op.get("requestBody", {}).get("content", {}).get("application/json")
            body = seed.get("body", example(spec, schema["schema"]) if schema else None)
            sent = json.dumps(body).encode() if schema else None

            for name in in_path:
                for value in URL_VALUES:
                    yield method, _url(path, {**in_path, name: value}, query), sent
            for name in (p["name"] for p in params if p["in"] == "query"):
                for value in URL_VALUES:
                    yield method, _url(path, in_path, {**query, name: value}), sent
            if schema:
                for at in list(places(body)):
                    for value in BODY_VALUES:
                        yield (
                            method,
                            _url(path, in_path, query),
                            json.dumps(replaced(body, at, value)).encode(),
                        )
                for raw in RAW_BODIES:
                    yield method, _url(path, in_path, query), raw


def walk(base_url: str, token: str, seeds: Seeds | None = None) -> tuple[int, list[Failure]]:
    """Send every request of `requests` to the service at `base_url`; the count and every
    answer that is a 5xx, or larger than 20 kB and echoing the input (a page of a large list,
    a roster search for "-1" on a stack with 500 members, is neither)."""
    failures: list[Failure] = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    sent = 0
    with httpx.Client(base_url=base_url, timeout=60, headers=headers) as client:
        spec = client.get("/openapi.json").json()
        for method, url, body in requests(spec, seeds or {}):
            resp = client.request(method.upper(), url, content=body)
            sent += 1
            if resp.status_code >= 500 or (
                len(resp.content) > 20_000 and echoes(resp.content, url.encode(), body or b"")
            ):
                what = repr(body[:160]) if body is not None else ""
                failures.append(
                    Failure(method.upper(), url, what, resp.status_code, resp.text[:200])
                )
    return sent, failures


def echoes(answer: bytes, *sent: bytes, run: int = 200) -> bool:
    """Whether `answer` holds `run` bytes in a row of what was sent (the oversized values are
    thousands of bytes long; an answer that repeats one has echoed it)."""
    return any(
        part[i : i + run] in answer
        for part in sent
        for i in range(0, max(len(part) - run, 0) + 1, run // 2)
        if len(part) >= run
    )


def _typed(spec: dict[str, Any], schema: dict[str, Any] | None, depth: int = 0) -> bool:
    """Whether `schema` says what an answer holds: not missing, not `{}`, not a bare `object`
    (FastAPI's schema for a route returning a `dict`), nor an array or map of those."""
    if not schema:
        return False
    schema = _resolve(spec, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [o for o in schema[key] if _resolve(spec, o).get("type") != "null"]
            return bool(options) and all(_typed(spec, o, depth + 1) for o in options)
    kind = schema.get("type")
    if kind == "array":
        return _typed(spec, schema.get("items"), depth + 1)
    if kind == "object" or (kind is None and "properties" not in schema):
        extra = schema.get("additionalProperties")
        return bool(schema.get("properties")) or (
            isinstance(extra, dict) and _typed(spec, extra, depth + 1)
        )
    return True


def untyped_2xx(spec: dict[str, Any]) -> list[str]:
    """Every success answer of `spec` whose body the document does not type
    (`GET /v1/things 200 application/json`); a 204 has no body."""
    found = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for code, response in op.get("responses", {}).items():
                if not code.startswith("2") or code == "204":
                    continue
                content = response.get("content") or {"-": {}}
                found += [
                    f"{method.upper()} {path} {code} {media}"
                    for media, body in content.items()
                    if not _typed(spec, body.get("schema"))
                ]
    return found


def _has_example(spec: dict[str, Any], media: dict[str, Any]) -> bool:
    if "example" in media or "examples" in media:
        return True
    schema = _resolve(spec, media.get("schema", {}))
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return all(_has_example(spec, {"schema": o}) for o in options)
    return "example" in schema or "examples" in schema


def untyped_responses(spec: dict[str, Any], skip: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """`METHOD path status: why` of every 2xx answer with a body that the document does not
    type (or gives no example of); paths in `skip` are left out."""
    found = []
    for path, operations in spec["paths"].items():
        if path in skip:
            continue
        for method, op in operations.items():
            for code, response in op.get("responses", {}).items():
                if not code.startswith("2") or code == "204":
                    continue
                media = response.get("content", {}).get("application/json")
                where = f"{method.upper()} {path} {code}"
                if media is None:
                    found.append(f"{where}: no JSON body documented")
                elif not _typed(spec, media.get("schema", {})):
                    found.append(f"{where}: untyped {media.get('schema')}")
                elif not _has_example(spec, media):
                    found.append(f"{where}: no example")
    return found
