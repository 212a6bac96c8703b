"""A path parameter given `/` or nothing: a 422 naming it, never a redirect.

Starlette routes on the decoded path, and a parameter is one segment: `/v1/templates/%2F` is
`/v1/templates//`, which `/v1/templates/{name}` does not take, so the router tried the path
without its trailing slash, found `/v1/templates` and answered 307 to it (the console then
showed "Temporary Redirect" or its not-found page). A trailing slash (`/v1/templates/sms/`)
was redirected the same way, and an id with `/` inside (`a%2Fb`) was a bare 404 that named
nothing. `PathSegments` answers a request no route takes, that one would take if its
parameters could hold `/` or be empty, with a 422 naming each such parameter (`["path",
name]`), as FastAPI names a parameter of the wrong type. Any other request goes on as before
(a route that takes the rest of the path, `{staff_id:path}`, still answers for itself).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from hospital_shared import problems

_PARAMETER = re.compile(r"{([^}:]+)(?::[^}]+)?}")
RULE = "one path segment: not empty, no `/` (`%2F`) in it and no trailing `/`"


def loose_pattern(path: str) -> re.Pattern[str]:
    """`path` (`/v1/staff/{staff_id}/channels`) with each parameter taking any text."""
    parts, end = [], 0
    for found in _PARAMETER.finditer(path):
        parts += [re.escape(path[end : found.start()]), f"(?P<{found.group(1)}>.*)"]
        end = found.end()
    return re.compile("^" + "".join([*parts, re.escape(path[end:])]) + "$")


def _routes(routes: Sequence[Any], prefix: str = "") -> Iterator[str]:
    """The whole path of every route of the API (FastAPI keeps an included router whole); not
    the patients' pages (`/s/{token}`, out of the API's document), which answer in HTML."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes, prefix + route.include_context.prefix)
        elif isinstance(route, Route) and route.include_in_schema:
            yield prefix + route.path


def bad_parameters(routes: Sequence[Any], path: str) -> list[str]:
    """The parameters holding `/` or nothing of the first route (with parameters) that takes
    `path` when its parameters may hold anything; none when no route does."""
    for whole in _routes(routes):
        if "{" not in whole:
            continue
        found = loose_pattern(whole).match(path)
        if found is not None:
            return [name for name, value in found.groupdict().items() if "/" in value or not value]
    return []


def _suspect(scope: Scope) -> bool:
    """A path some parameter may hold `/` in or be empty in: the only ones checked."""
    path: str = scope["path"]
    raw = scope.get("raw_path") or b""
    return "//" in path or (path.endswith("/") and path != "/") or b"%2f" in raw.lower()


def _routed(routes: Sequence[Any], scope: Scope) -> bool:
    return any(route.matches(scope)[0] is not Match.NONE for route in routes)


class PathSegments:
    """The 422 above, before the router's redirect; outermost of a service's own middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _suspect(scope):
            routes = scope["app"].router.routes
            names = [] if _routed(routes, scope) else bad_parameters(routes, scope["path"])
            if names:
                errors = [{"loc": ["path", n], "msg": RULE, "type": "path_segment"} for n in names]
                await problems.invalid(errors, instance=scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, send)
