"""The shared HTTP pieces (hospital_shared.http_api): role dependencies against the app's
runtime, one paging style with opaque cursors, UTC `Z` times and E.164 phones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from hospital_shared import http_guard, problems
from hospital_shared.auth import DEV_TOKENS, Principal, Role, TokenAuth
from hospital_shared.http_api import (
    BadCursor,
    CurrentStaff,
    E164Phone,
    NotAPhone,
    Page,
    PageRequest,
    WireTime,
    decode_cursor,
    e164,
    encode_cursor,
    masked_phone,
    page_query,
    require,
    split_page,
    wire_phone,
    wire_time,
)
from hospital_shared.http_guard import GuardedRoute

Supervisor = Annotated[Principal, Depends(require(Role.SUPERVISOR))]
Numbers = Annotated[PageRequest, Depends(page_query(default=2, maximum=3))]


class Item(BaseModel):
    n: int


def _app() -> FastAPI:
    app = FastAPI()
    app.router.route_class = GuardedRoute
    app.state.runtime = SimpleNamespace(auth=TokenAuth(dict(DEV_TOKENS)), pool=None)

    @app.get("/me")
    async def me(who: CurrentStaff) -> Principal:
        return who

    @app.get("/supervised")
    async def supervised(who: Supervisor) -> Principal:
        return who

    @app.get("/numbers", response_model=Page[Item])
    async def numbers(request: Request, page: Numbers) -> Page[Item]:
        start = (page.position({"after"}) or {"after": 0})["after"]
        rows, more = split_page([Item(n=n) for n in range(start + 1, 8)], page.limit)
        return page.page(request, rows, {"after": rows[-1].n} if more else None)

    http_guard.install(app)  # as a service's: problems, bounded 422s
    return app


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_require_answers_the_principal_of_an_allowed_role_and_refuses_others() -> None:
    client = TestClient(_app())
    assert client.get("/me", headers=_bearer("dev-agent-token")).json()["staff_id"] == "S-AGENT-01"
    assert client.get("/supervised", headers=_bearer("dev-supervisor-token")).status_code == 200
    refused = client.get("/supervised", headers=_bearer("dev-agent-token"))
    assert refused.status_code == 403
    assert "supervisor" in refused.json()["detail"]
    assert client.get("/me").status_code == 401
    assert client.get("/me", headers=_bearer("nobody")).status_code == 401


def test_the_openapi_document_has_one_bearer_scheme_and_a_typed_page() -> None:
    spec = TestClient(_app()).get("/openapi.json").json()
    assert list(spec["components"]["securitySchemes"]) == ["HTTPBearer"]
    page = spec["components"]["schemas"]["Page_Item_"]
    assert set(page["required"]) == {"items", "next", "limit"}
    limit = next(p for p in spec["paths"]["/numbers"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 3


def test_following_next_links_walks_the_whole_list_once() -> None:
    client = TestClient(_app())
    seen, link, pages = [], "/numbers", 0
    while link is not None:
        body = client.get(link).json()
        assert body["limit"] == 2 and len(body["items"]) <= 2
        seen += [i["n"] for i in body["items"]]
        link, pages = body["next"], pages + 1
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    assert pages == 4


def test_a_limit_over_the_maximum_and_a_forged_cursor_are_422_naming_the_field() -> None:
    client = TestClient(_app())
    over = client.get("/numbers?limit=4")
    assert over.status_code == 422
    assert over.json()["errors"][0]["location"] == ["query", "limit"]
    for forged in ("not-base64!", encode_cursor({"offset": 3}), "W10"):
        bad = client.get(f"/numbers?cursor={forged}")
        assert bad.status_code == 422, forged
        assert bad.headers["content-type"] == problems.MEDIA_TYPE
        assert bad.json()["errors"][0]["location"] == ["query", "cursor"]


def test_a_cursor_round_trips_and_says_nothing_readable() -> None:
    position = {"due_at": "2026-01-02T00:00:00Z", "id": "T-1"}
    cursor = encode_cursor(position)
    assert "T-1" not in cursor and "=" not in cursor
    assert decode_cursor(cursor, keys={"due_at", "id"}) == position
    with pytest.raises(BadCursor):
        decode_cursor(cursor, keys={"id"})


def test_times_go_out_in_utc_with_z_whatever_their_offset() -> None:
    shanghai = timezone(timedelta(hours=8))
    assert wire_time(datetime(2026, 1, 2, 10, 0, tzinfo=shanghai)) == "2026-01-02T02:00:00Z"
    assert (
        wire_time(datetime(2026, 1, 2, 2, 0, 0, 5000, tzinfo=UTC)) == "2026-01-02T02:00:00.005000Z"
    )
    with pytest.raises(ValueError):
        wire_time(datetime(2026, 1, 2, 10, 0))

    class Stamp(BaseModel):
        at: WireTime

    assert (
        Stamp(at="2026-01-02T10:00:00+08:00").model_dump_json() == '{"at":"2026-01-02T02:00:00Z"}'
    )
    with pytest.raises(ValidationError):
        Stamp(at="2026-01-02T10:00:00")  # no offset: which zone?


def test_phones_are_written_in_e164() -> None:
    for raw in ("13800138000", "138 0013 8000", "+86 138-0013-8000", "008613800138000"):
        assert e164(raw) == "+8613800138000", raw
    assert e164("020 8123 4567", "GB") == "+442081234567"
    with pytest.raises(NotAPhone):
        e164("call me")
    assert wire_phone("138 0013 8000") == "+8613800138000"
    assert wire_phone("unknown") == "unknown" and wire_phone(None) is None

    class Contact(BaseModel):
        phone: E164Phone

    assert Contact(phone="138-0013-8000").phone == "+8613800138000"
    with pytest.raises(ValidationError):
        Contact(phone="12")


def test_a_masked_phone_reads_the_same_in_every_service() -> None:
    """Complaints showed `138****8000` where notifications and registration showed
    `+86138****8000`: one mask now, of the number's E.164 form, however it was stored."""
    for raw in ("13800138000", "+86 138-0013-8000", "+8613800138000"):
        assert masked_phone(raw) == "+86138****8000", raw
    assert masked_phone("+861234") == "****"  # too short to show any of it
    assert masked_phone(None) is None and masked_phone("") == ""


def test_a_position_the_route_cannot_read_is_a_422_naming_the_cursor() -> None:
    from fastapi import HTTPException

    page = PageRequest(limit=2, cursor=encode_cursor({"at": "not a time"}))
    with pytest.raises(HTTPException) as refused:
        page.read_position({"at"}, lambda p: datetime.fromisoformat(p["at"]))
    assert refused.value.status_code == 422
    assert refused.value.detail[0]["loc"] == ["query", "cursor"]
    good = PageRequest(limit=2, cursor=encode_cursor({"at": "2026-01-02T00:00:00+00:00"}))
    assert good.read_position({"at"}, lambda p: datetime.fromisoformat(p["at"])) == datetime(
        2026, 1, 2, tzinfo=UTC
    )
    assert PageRequest(limit=2).read_position({"at"}, lambda p: p) is None
