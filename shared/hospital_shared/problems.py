"""Every error a service answers, in one shape: RFC 9457 `application/problem+json`.

Before, errors came in three shapes: a sentence (`{"detail": "no such task"}`), FastAPI's list
of field errors (`{"detail": [{"loc", "msg", "type"}]}`) and an object (a refused transition:
`{"detail": {"message", "allowed_next", ...}}`); a client had to guess which. Now each is

    {"type": "about:blank", "title": "Not Found", "status": 404,
     "detail": "no such task", "instance": "/v1/tasks/T-1"}

with, for a 422, `errors` (each field's `location`, `message` and `type`, never its value) and,
for a refused transition, the extension members the refusal names (`allowed_next`,
`current_status`, `requested`). `type` is `about:blank` for a plain HTTP refusal (its `title`
is then the status phrase, as RFC 9457 4.2.1 asks) and a `urn:hospital:problem:*` name for the
problems a client acts on (field errors, a refused step, a step sent on a version of the record
that is no longer its version: `current_status`, `current_version`; reload and decide again).

Routes keep raising `HTTPException(status, detail)`; `install` turns any of the three old
`detail` shapes into a problem, so the seven people changing routes this round need not touch
them, and a route's new error cannot escape the shape. `PlainErrors` catches what Starlette
answers outside the app's exception handlers (the body limit's 413, its own 500) as text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MEDIA_TYPE = "application/problem+json"
VALIDATION = "urn:hospital:problem:validation"
TRANSITION_REFUSED = "urn:hospital:problem:transition-refused"
VERSION_MISMATCH = "urn:hospital:problem:version-mismatch"
MAX_DETAIL = 500


class FieldError(BaseModel):
    """One bad field of a request: where (`["body", "reason"]`, `["query", "date"]`), what is
    wrong, and a machine-readable kind (pydantic's, e.g. `missing`, `string_too_long`)."""

    location: list[str | int]
    message: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details; extension members (the refused transition's `allowed_next`,
    `current_status`, `requested`) are kept as they come."""

    model_config = ConfigDict(extra="allow")

    type: str = Field("about:blank", description="what kind of problem (a URI)")
    title: str = Field(description="the problem type's summary; the status phrase for about:blank")
    status: int = Field(description="the HTTP status code")
    detail: str | None = Field(None, description="this occurrence, in words")
    instance: str | None = Field(None, description="the request's path")
    errors: list[FieldError] | None = Field(None, description="each bad field (422)")
    allowed_next: list[str] | None = Field(
        None, description="the steps the record allows from its current status (refused transition)"
    )
    current_version: int | None = Field(
        None, description="the record's version now (version-mismatch: it changed since read)"
    )


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _cut(text: str) -> str:
    text = text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL] + "…"
    return text.encode("utf-8", "replace").decode("utf-8")


def problem(
    status: int,
    detail: str | None = None,
    *,
    instance: str | None = None,
    type_: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem+json answer. Extension members whose value is None are left out."""
    body: dict[str, Any] = {"type": type_, "title": _title(status), "status": status}
    if detail is not None:
        body["detail"] = _cut(detail)
    if instance is not None:
        body["instance"] = instance
    body.update({k: v for k, v in extensions.items() if v is not None})
    return JSONResponse(
        jsonable_encoder(body), status_code=status, headers=headers, media_type=MEDIA_TYPE
    )


def field_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """pydantic/FastAPI errors (`loc`, `msg`, `type`) as the problem's `errors`."""
    return [
        {"location": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in errors
    ]


def invalid(errors: Sequence[Mapping[str, Any]], *, instance: str | None = None) -> JSONResponse:
    """A 422 naming each bad field (already bounded by the caller, without the input)."""
    count = len(errors)
    detail = "1 field is invalid" if count == 1 else f"{count} fields are invalid"
    return problem(422, detail, instance=instance, type_=VALIDATION, errors=field_errors(errors))


def from_http_exception(exc: HTTPException, instance: str | None) -> JSONResponse:
    """Any of the three `detail` shapes routes raise, as a problem."""
    detail = exc.detail
    headers = getattr(exc, "headers", None)
    if isinstance(detail, list):  # field errors a route built itself
        return invalid(detail, instance=instance)
    if isinstance(detail, Mapping):  # a refusal with members of its own (a transition)
        members = {k: v for k, v in detail.items() if k not in ("message", "type")}
        kind = TRANSITION_REFUSED if "allowed_next" in members else "about:blank"
        kind = str(detail.get("type") or kind)
        message = detail.get("message")
        return problem(
            exc.status_code,
            str(message) if message is not None else None,
            instance=instance,
            type_=kind,
            headers=headers,
            **members,
        )
    text = None if detail is None or detail == _title(exc.status_code) else str(detail)
    return problem(exc.status_code, text, instance=instance, headers=headers)


async def http_exception_answered(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return from_http_exception(exc, request.url.path)


class PlainErrors:
    """The outermost layer: an error Starlette answers as plain text outside the app's
    exception handlers (the body limit's 413, the server error middleware's 500) goes out as a
    problem instead. Every other answer passes through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replacing = False

        async def rewritten(message: Message) -> None:
            nonlocal replacing
            if message["type"] == "http.response.start":
                status = message["status"]
                kind = Headers(raw=message.get("headers", [])).get("content-type", "")
                if status >= 400 and kind.startswith("text/plain"):
                    replacing = True
                    answer = problem(status, instance=scope.get("path"))
                    await answer(scope, receive, send)
                    return
            if not replacing:
                await send(message)

        await self.app(scope, receive, rewritten)


def install(app: FastAPI) -> None:
    """Problems for every HTTP refusal, and the outermost rewrite of plain-text errors. The
    422 of FastAPI's validation is `http_guard`'s (bounded, without input), also a problem."""
    app.add_exception_handler(HTTPException, http_exception_answered)
    build = app.build_middleware_stack

    def build_with_plain_errors() -> ASGIApp:
        return PlainErrors(build())

    app.build_middleware_stack = build_with_plain_errors  # type: ignore[method-assign]
    _document(app)


# --- the OpenAPI document ----------------------------------------------------------------

_HEALTH = {"/healthz", "/readyz", "/metrics", "/asyncapi.json"}


def _problem_content() -> dict[str, Any]:
    return {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _document(app: FastAPI) -> None:
    """Every documented error is a problem: 422 (instead of FastAPI's HTTPValidationError),
    401 and 403 on routes that take a bearer token, 404 on routes with a path parameter, and
    any 4xx/5xx a route declares itself."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(_component_schemas())
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        for path, operations in schema.get("paths", {}).items():
            if path in _HEALTH:
                continue
            for operation in operations.values():
                _document_operation(operation)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _component_schemas() -> dict[str, Any]:
    found = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = found.pop("$defs", {})
    return {"Problem": found, **defs}


def _document_operation(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    wanted: dict[str, str] = {}
    if operation.get("security"):
        wanted |= {"401": "missing or unknown bearer token", "403": "the token's role may not"}
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        wanted["404"] = "no such record"
    for code, description in wanted.items():
        responses.setdefault(code, {"description": description})
    for code, response in responses.items():
        if code[:1] in {"4", "5"}:
            response["content"] = _problem_content()
            if response.get("description") == "Validation Error":
                response["description"] = "the bad fields, each with its location"
