"""What every service's HTTP app does with input it cannot take: one place for all routes.

- Values PostgreSQL cannot store or Python cannot compute with (`hospital_shared.bounds`):
  text with NUL or a lone surrogate, integers past 64 bits, dates outside 1900..2099, NaN and
  infinities. FastAPI's models accept them all, and they failed later as 500s (asyncpg's
  `CharacterNotInRepertoireError`, `DataError`, `OverflowError`) on some 27 routes.
  `GuardedRoute` checks every validated path, query, header and body value of a route before
  its function runs, and answers 422 naming each such field.
- A 422 never echoes the input: each error is its location, message and type, each bounded,
  at most `MAX_ERRORS` of them. FastAPI's own answer carried every bad value (a 10 MB body came
  back as a 73 MB answer) and failed with a 500 on a lone surrogate, whose traceback then wrote
  the whole request text, a complaint's included, to the log.
- A request that fails anyway is logged without its text (`SafeErrors`): the route, the
  exception's type and frames, and a bounded reason.
- The body limit (`<SERVICE>_HTTP_MAX_BODY_BYTES`) is FastAPI's own, given at app creation:
  413 once the Content-Length or the bytes streamed so far pass it.
"""

from __future__ import annotations

import inspect
import math
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from enum import Enum
from functools import wraps
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hospital_shared import problems
from hospital_shared.bounds import (
    BIGINT_MAX,
    BIGINT_MIN,
    BIGINT_OUT_OF_RANGE,
    DATE_OUT_OF_RANGE,
    UNSTORABLE_TEXT,
    day_in_range,
    storable_text,
)

log = structlog.get_logger(__name__)

Loc = list[str | int]
MAX_ERRORS = 50
MAX_LOC_PART = 64
MAX_MESSAGE = 300


def error(loc: Loc, msg: str, type_: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": type_}


def field_refused(loc: Loc, msg: str) -> RequestValidationError:
    """What a route raises for a value it refuses itself (a staff id that cannot be one): the
    422 that names `loc`, as FastAPI's own validation does."""
    return RequestValidationError([error(loc, msg, "value_error")])


# --- values nothing downstream can take --------------------------------------------


def unstorable(value: Any, loc: Loc) -> Iterator[dict[str, Any]]:
    """An error for every text, number or date in `value` (a model, JSON document or scalar,
    keys included) that cannot be stored or computed with."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        if not storable_text(value):
            yield error(loc, UNSTORABLE_TEXT, "string_unicode")
    elif isinstance(value, Enum):
        return
    elif isinstance(value, int):
        if not BIGINT_MIN <= value <= BIGINT_MAX:
            yield error(loc, BIGINT_OUT_OF_RANGE, "int_out_of_range")
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield error(loc, "must be a finite number", "finite_number")
    elif isinstance(value, date):
        if not day_in_range(value):
            yield error(loc, DATE_OUT_OF_RANGE, "date_out_of_range")
    elif isinstance(value, BaseModel):
        yield from _model_fields(value, loc)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and not storable_text(key):
                yield error([*loc, key], UNSTORABLE_TEXT, "string_unicode")
            else:
                yield from unstorable(item, [*loc, key])
    elif isinstance(value, list | tuple | set | frozenset):
        for n, item in enumerate(value):
            yield from unstorable(item, [*loc, n])


def _model_fields(model: BaseModel, loc: Loc) -> Iterator[dict[str, Any]]:
    for name, field in type(model).model_fields.items():
        yield from unstorable(getattr(model, name), [*loc, field.alias or name])
    yield from unstorable(model.model_extra or {}, loc)


# --- the route class every router uses ----------------------------------------------


class GuardedRoute(APIRoute):
    """An APIRoute whose function sees no value `unstorable` objects to: give it to every
    router (`APIRouter(route_class=GuardedRoute)`); `install` checks that none is missing."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        where: dict[str, Loc] = {}  # parameter name -> its location, once FastAPI knows it
        super().__init__(path, _guarded(endpoint, where), **kwargs)
        where.update(_locations(self))


def _guarded(endpoint: Callable[..., Any], where: Mapping[str, Loc]) -> Callable[..., Any]:
    """`endpoint`, refusing unstorable values first; a plain function stays one (FastAPI runs
    it in its thread pool), and FastAPI reads the parameters through `__wrapped__`."""

    def refuse_unstorable(values: dict[str, Any]) -> None:
        errors = [e for name, loc in where.items() for e in unstorable(values.get(name), loc)]
        if errors:
            raise RequestValidationError(errors)

    if inspect.iscoroutinefunction(endpoint):

        @wraps(endpoint)
        async def guarded(**values: Any) -> Any:
            refuse_unstorable(values)
            return await endpoint(**values)

        return guarded

    @wraps(endpoint)
    def guarded_sync(**values: Any) -> Any:
        refuse_unstorable(values)
        return endpoint(**values)

    return guarded_sync


def _locations(route: APIRoute) -> dict[str, Loc]:
    """Where each of the route's own parameters comes from, as FastAPI names it in a 422."""
    dependant = route.dependant
    where: dict[str, Loc] = {}
    for kind, params in (
        ("path", dependant.path_params),
        ("query", dependant.query_params),
        ("header", dependant.header_params),
        ("cookie", dependant.cookie_params),
    ):
        for param in params:
            where[param.name] = [kind, param.alias]
    body = dependant.body_params
    embedded = len(body) > 1 or any(getattr(p.field_info, "embed", False) for p in body)
    for param in body:
        where[param.name] = ["body", param.alias] if embedded else ["body"]
    return where


# --- answers and logs that never carry the input ------------------------------------


def bounded(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, unpaired surrogates replaced (UTF-8 cannot send them)."""
    if len(text) > limit:
        text = text[:limit] + "…"
    return text.encode("utf-8", "replace").decode("utf-8")


def unprocessable(errors: list[dict[str, Any]], *, instance: str | None = None) -> JSONResponse:
    """A 422 problem (hospital_shared.problems) naming each bad field: location, message and
    type, without the input, each part bounded, at most MAX_ERRORS errors."""
    shown = [
        {
            "loc": [
                bounded(p, MAX_LOC_PART) if isinstance(p, str) else p for p in e.get("loc", ())
            ],
            "msg": bounded(str(e.get("msg", "")), MAX_MESSAGE),
            "type": bounded(str(e.get("type", "")), MAX_LOC_PART),
        }
        for e in errors[:MAX_ERRORS]
    ]
    if len(errors) > MAX_ERRORS:
        more = len(errors) - MAX_ERRORS
        shown.append(error(["body"], f"and {more} more errors", "too_many_errors"))
    return problems.invalid(jsonable_encoder(shown), instance=instance)


async def request_validation_failed(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return unprocessable(list(exc.errors()), instance=request.url.path)


class SafeErrors:
    """An unexpected exception in a request: logged with its route, type, frames and a
    bounded reason (no request text), answered 500. Uvicorn's own log of it printed the
    exception's message, which for a pydantic or asyncpg error holds the input."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if isinstance(exc, HTTPException) or _is_body_limit_signal(exc):
                raise  # answered further out (413): not a failure
            if not started:  # answered first: a failing log handler cannot change the answer
                answer = problems.problem(500, "internal error", instance=scope.get("path"))
                await answer(scope, receive, send)
            route = getattr(scope.get("route"), "path", None) or "(no route)"
            # The route in the line's text, so that the repeat limiter (hospital_shared.logging,
            # which keys on the text) summarises each failing route on its own: with one text
            # for all, a second route's failure in the same window was never written.
            log.error(
                f"request failed: {scope.get('method')} {route}",
                method=scope.get("method"),
                route=route,
                error=type(exc).__name__,
                reason=safe_reason(exc),
                frames="".join(traceback.format_tb(exc.__traceback__)),
            )


def _is_body_limit_signal(exc: Exception) -> bool:
    """Starlette's body limit raises its own (private) exception once it has sent the 413,
    for its middleware further out to catch."""
    return type(exc).__module__ == "starlette.middleware.body_limit"


def safe_reason(exc: BaseException) -> str:
    """What went wrong, without the values that made it go wrong. Pydantic and PostgreSQL
    put them in their messages (`input_value=...`, `DETAIL: Key (keyword)=(...)`, `invalid
    input for query argument $1: ...`), and so may any other exception: only pydantic's
    errors without their input, PostgreSQL's error code and names, or nothing."""
    if isinstance(exc, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        return bounded("; ".join(parts), MAX_MESSAGE)
    names = ("sqlstate", "table_name", "column_name", "constraint_name")
    found = [f"{n}={getattr(exc, n)}" for n in names if getattr(exc, n, None)]
    return bounded(" ".join(found), MAX_MESSAGE)


def install(app: FastAPI) -> None:
    """Every route guarded, 422s bounded, failures logged safely, every error a problem
    (hospital_shared.problems). Call once the routers are included; a route that is not a
    GuardedRoute stops the service at start."""
    unguarded = [r.path for r in _api_routes(app.routes) if not isinstance(r, GuardedRoute)]
    if unguarded:
        raise TypeError(f"routes without GuardedRoute (route_class): {unguarded}")
    app.add_exception_handler(RequestValidationError, request_validation_failed)
    app.add_middleware(SafeErrors)
    problems.install(app)


def _api_routes(routes: Sequence[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, those of included routers too (FastAPI keeps an included router whole)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _api_routes(included.routes)
