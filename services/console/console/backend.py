"""The console's client of the five services: every call carries the signed-in person's
access token, and every answer that is not a success becomes one of a few outcomes a page
knows how to show.

- 401: the token is no longer taken -> `SignInRequired` (sign in again, then come back);
- 403: a clear refusal page (`Refused`, with the service's reason, in Chinese and English:
  console/refusals.py);
- 404: the not-found page (`NotFound`); `find` takes it, and a 422 naming a part of the
  address (an id with `/`, which no record has), for None;
- 3xx: the services answer their API without redirects (`hospital_shared.path_segments`), so
  one is a fault: a `Problem` (502) saying which service redirected and that the console does
  not follow (it was the not-found page, and before that "Temporary Redirect" with status 307,
  for `/v1/staff/%2F`, which the app redirected to `/v1/staff`);
- another 4xx: `Problem`, which a form view catches to show the message next to the field it
  names (a 422's `loc`), never a trace; a page that does not catch it shows the error page
  with the service's status and reason (`problem_reason`);
- 5xx or no answer: `Unavailable`, a page saying which service did not answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from console.refusals import Reason, detail_reason, field_reason, transition_reason
from console.session import Session, SignInRequired
from console.wording import translate


class Refused(Exception):
    """403: the console's own refusals are sentences of `refusals.json` too."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason if isinstance(reason, Reason) else detail_reason(403, reason)


class NotFound(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class Unavailable(Exception):
    def __init__(self, service: str) -> None:
        super().__init__(service)
        self.service = service


@dataclass
class Problem(Exception):
    """A 4xx the person can correct: `fields` maps a form field to its message; `message` is
    what is not tied to one field (both `Reason`s: the service's English and Chinese)."""

    status: int
    message: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    # the same errors by their whole place in the body (`patient.name`, `department.code`),
    # for a form whose fields' last names repeat
    at: dict[str, str] = field(default_factory=dict)
    # and by their place with the positions in lists kept (`questions.2.text`), for a form
    # that repeats a group of fields (a questionnaire's questions)
    indexed: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message or "; ".join(f"{k}: {v}" for k, v in self.fields.items()))


def segment(value: object) -> str:
    """`value` as one segment of a service's path: `quote` keeps `/` by default, and the HTTP
    client resolves `..`, so `/staff?edit=../tasks/T-1` made the console GET `/v1/tasks/T-1`
    with the signed-in person's token. Every `/` and `%` is escaped, and a segment of only
    dots (`.`, `..`) too, which would otherwise be a step up."""
    escaped = quote(str(value), safe="")
    return escaped.replace(".", "%2E") if escaped in (".", "..") else escaped


def _detail_text(detail: Any) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, dict):
        return str(detail.get("message") or detail.get("reason") or detail)
    return "" if detail is None else str(detail)


def refusal_from(status: int, body: Any) -> Reason:
    """A refusal's reason (a 403's, a 409's): a refused step from the problem's members, any
    other from its `detail`."""
    if isinstance(body, dict) and "allowed_next" in body:
        return transition_reason(body, _detail_text(body.get("detail")))
    if isinstance(body, dict) and isinstance(body.get("detail"), dict):
        detail = body["detail"]  # the older shape of a refused step
        if "allowed_next" in detail:
            return transition_reason(detail, _detail_text(detail))
    return detail_reason(
        status, _detail_text(body.get("detail") if isinstance(body, dict) else body)
    )


def problem_from(status: int, body: Any) -> Problem:
    """A service's 4xx problem (RFC 9457, hospital_shared.problems) as a `Problem`: a 422's
    `errors` name each field (the last part of its `location` that is a name), `detail` is the
    message. The older shapes (`detail` as a list of `loc`/`msg`, or an object) are read too."""
    detail = body.get("detail") if isinstance(body, dict) else body
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        return _field_problem(status, errors, "location", "message")
    if isinstance(detail, list):
        return _field_problem(status, detail, "loc", "msg")
    return Problem(status, refusal_from(status, body))


def redirected(service: str, status: int) -> Reason:
    """What the page says of a service's 3xx, in both languages (`error.redirected`)."""
    en, zh = (translate("error.redirected", lang) for lang in ("en", "zh"))
    return Reason(en.format(service=service, status=status),
                  zh.format(service=service, status=status))  # fmt: skip


def names_the_address(problem: Problem) -> bool:
    """A 422 naming a path parameter (`path.staff_id`): an id that cannot be one names nothing."""
    return problem.status == 422 and any(place.startswith("path.") for place in problem.at)


def first_reason(problem: Problem) -> str:
    """What a form with one input shows of a problem: its message, else its first field's."""
    return problem.message or next(iter(problem.fields.values()), "")


def problem_reason(problem: Problem) -> Reason:
    """What the error page shows of a problem no form catches (a page's edited `cursor`, a
    report's `period`): its message, else each field it names with its error."""
    if isinstance(problem.message, Reason):
        return problem.message
    if problem.message:
        return detail_reason(problem.status, problem.message)
    named = [(name, _reason(text)) for name, text in problem.fields.items()]
    return Reason(
        "; ".join(f"{name}: {text}" for name, text in named),
        "；".join(f"{name}：{text.zh}" for name, text in named),
    )


def _reason(text: str) -> Reason:
    return text if isinstance(text, Reason) else Reason(text, text)


def _field_problem(status: int, errors: list[Any], where: str, what: str) -> Problem:
    fields: dict[str, str] = {}
    at: dict[str, str] = {}
    indexed: dict[str, str] = {}
    for error in errors:
        place = list(error.get(where, []))
        if place[:1] in (["body"], ["query"]):
            place = place[1:]
        loc = [str(p) for p in place if not isinstance(p, int)]
        reason = field_reason(str(error.get("type", "")), str(error.get(what, "invalid")))
        fields.setdefault(loc[-1] if loc else "form", reason)
        at.setdefault(".".join(loc) or "form", reason)
        indexed.setdefault(".".join(map(str, place)) or "form", reason)
    return Problem(status, "", fields, at, indexed)


class Backend:
    """Calls the services by name (`registration`, `followup`, `complaints`, `notifications`,
    `metrics`) with the session's token."""

    def __init__(self, urls: dict[str, str], client: httpx.AsyncClient) -> None:
        self.urls = urls
        self.client = client

    async def call(
        self,
        session: Session,
        service: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        reason: str | None = None,
    ) -> Any:
        """The decoded JSON answer of a success (None for an empty one); else one of the
        exceptions above. `reason` goes to the access records (`X-Access-Reason`)."""
        headers = {"Authorization": f"Bearer {session.access_token}"}
        if reason:
            headers["X-Access-Reason"] = quote(reason[:200], safe=" ")
        url = self.urls[service].rstrip("/") + path
        try:
            resp = await self.client.request(
                method, url, params=_clean(params), json=json, headers=headers
            )
        except httpx.HTTPError as exc:
            raise Unavailable(service) from exc
        return _answer(service, resp)

    async def get(self, session: Session, service: str, path: str, **kw: Any) -> Any:
        return await self.call(session, service, "GET", path, **kw)

    async def post(self, session: Session, service: str, path: str, **kw: Any) -> Any:
        return await self.call(session, service, "POST", path, **kw)

    async def find(self, session: Session, service: str, path: str, **kw: Any) -> Any:
        """A record looked up by the id in `path`, None when there is none: not found (404), or
        an id the service refuses in its address (`names_the_address`)."""
        try:
            return await self.get(session, service, path, **kw)
        except NotFound:
            return None
        except Problem as exc:
            if names_the_address(exc):
                return None
            raise


def backend_of(request: Any) -> Backend:
    """The app's `Backend` (its `state.backend`), typed: what a screen calls the services with."""
    found: Backend = request.app.state.backend
    return found


def _clean(params: dict[str, Any] | None) -> dict[str, Any] | None:
    """Query parameters without the empty ones (a filter left blank is no filter)."""
    if params is None:
        return None
    return {k: v for k, v in params.items() if v not in (None, "", [])}


def _answer(service: str, resp: httpx.Response) -> Any:
    status = resp.status_code
    if status < 300:
        return resp.json() if resp.content else None
    try:
        body: Any = resp.json()
    except ValueError:
        body = {"detail": resp.reason_phrase}
    if status == 401:
        raise SignInRequired()
    if status == 403:
        raise Refused(refusal_from(status, body))
    if status < 400:
        raise Problem(502, redirected(service, status))
    if status == 404:
        raise NotFound(_detail_text(body.get("detail") if isinstance(body, dict) else body))
    if status < 500:
        raise problem_from(status, body)
    raise Unavailable(service)
