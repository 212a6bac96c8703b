"""Kannel's delivery receipts by GET are answered by `ReceiptLane`, before FastAPI's routing
and middleware; by POST they still go through the route. Both must give the same answer to
the same receipt, whatever it is: recorded, refused, or failed. The database's side is a
fake writer here (the real one: tests/integration/test_notifications_receipts.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from hospital_shared import http_guard
from notifications import callbacks
from notifications.app import create_app
from notifications.callbacks import ReceiptLane
from notifications.dispatcher import receipt_signature
from notifications.receipts import MISSING
from notifications.settings import Settings

SECRET = "lane-test-secret"
MESSAGE = str(uuid.uuid4())


class FakeWriter:
    """What the receipt writer answers or raises, and what it was given."""

    def __init__(self, answer: Callable[[], str]) -> None:
        self.answer = answer
        self.recorded: list[Any] = []

    async def record(self, receipt: Any) -> str:
        self.recorded.append(receipt)
        return self.answer()


def raises(exc: BaseException) -> Callable[[], str]:
    def answer() -> str:
        raise exc

    return answer


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    monkeypatch.setenv("ENV", "test")
    return create_app(Settings(callback_secret=SECRET))  # type: ignore[call-arg]


def params(message_id: str = MESSAGE, status: str = "1", sig: str | None = None) -> dict[str, str]:
    return {
        "id": message_id,
        "sig": receipt_signature(SECRET, message_id) if sig is None else sig,
        "status": status,
        "ts": "1765000000",
        "reply": "id:1 sub:001 dlvrd:001 stat:DELIVRD",
    }


async def both_ways(
    app: FastAPI, query: dict[str, str], caller: str = "127.0.0.1"
) -> tuple[httpx.Response, httpx.Response]:
    """The receipt by GET (the lane) and by POST (the route), from `caller`."""
    transport = httpx.ASGITransport(app=app, client=(caller, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://notifications") as c:
        by_get = await c.get("/v1/sms/dlr", params=query)
        by_post = await c.post("/v1/sms/dlr", data=query)
    return by_get, by_post


def answer_of(response: httpx.Response) -> tuple[int, str, str]:
    return response.status_code, response.headers["content-type"], response.text


CASES = [
    # (what, the writer's answer, the query, the caller, the status expected)
    ("recorded", lambda: "ok", params(), "127.0.0.1", 200),
    ("already final", lambda: "unchanged", params(), "127.0.0.1", 200),
    ("an interim type", lambda: "ok", params(status="32"), "127.0.0.1", 200),
    ("a bad signature", lambda: "ok", params(sig="0" * 32), "127.0.0.1", 403),
    ("a caller not allowed", lambda: "ok", params(), "10.9.9.9", 403),
    ("a status that is not a number", lambda: "ok", params(status="x"), "127.0.0.1", 400),
    ("an id that is not a message id", lambda: "ok", params(message_id="m-1"), "127.0.0.1", 400),
    ("no such message", lambda: MISSING, params(), "127.0.0.1", 404),
    # compare_digest raised TypeError on a str with non-ASCII characters: a 500
    ("a signature that is not ASCII", lambda: "ok", params(sig="\u00e9" * 32), "127.0.0.1", 403),
    ("the database away", raises(OSError("refused")), params(), "127.0.0.1", 503),
]


@pytest.mark.parametrize(
    ("answer", "query", "caller", "status"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_a_receipt_by_get_is_answered_as_the_route_answers_it_by_post(
    app: FastAPI, answer: Callable[[], str], query: dict[str, str], caller: str, status: int
) -> None:
    writer = FakeWriter(answer)
    app.state.receipts = writer
    by_get, by_post = await both_ways(app, query, caller)
    assert by_get.status_code == status
    assert answer_of(by_get) == answer_of(by_post)
    if status >= 400:
        assert by_get.headers["content-type"] == "application/problem+json"
        assert by_get.json()["instance"] == "/v1/sms/dlr"
    recorded_by_each = len(writer.recorded) / 2
    assert recorded_by_each == (1 if status in (200, 404, 503) and query["status"] == "1" else 0)


async def test_a_receipt_before_the_writer_has_started_is_answered_503(app: FastAPI) -> None:
    by_get, by_post = await both_ways(app, params())
    assert by_get.status_code == 503
    assert answer_of(by_get) == answer_of(by_post)
    assert "service starting" in by_get.json()["detail"]


async def test_a_recorded_receipt_carries_its_message_type_and_the_operators_words(
    app: FastAPI,
) -> None:
    writer = FakeWriter(lambda: "ok")
    app.state.receipts = writer
    by_get, _ = await both_ways(app, params(status="2"))
    assert by_get.text == "ok"
    got = writer.recorded[0]
    assert (str(got.message_id), got.status.value) == (MESSAGE, "failed")
    assert got.detail == "DLR 2: id:1 sub:001 dlvrd:001 stat:DELIVRD"


async def test_a_nul_in_the_operators_words_is_recorded_as_a_replacement_character(
    app: FastAPI,
) -> None:
    writer = FakeWriter(lambda: "ok")
    app.state.receipts = writer
    by_get, by_post = await both_ways(app, params(status="2") | {"reply": "no\x00route"})
    assert by_get.text == by_post.text == "ok"
    assert [r.detail for r in writer.recorded] == ["DLR 2: no\ufffdroute"] * 2


class RecordedLog:
    """`http_guard`'s logger, replaced: what SafeErrors logs, whatever structlog's state."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def error(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


async def test_an_unexpected_failure_is_a_500_problem_without_the_request_in_it(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged = RecordedLog()
    monkeypatch.setattr(http_guard, "log", logged)
    app.state.receipts = FakeWriter(raises(RuntimeError("secret-reply-text")))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://notifications") as c:
        failed = await c.get("/v1/sms/dlr", params=params())
    assert failed.status_code == 500
    assert failed.json() == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "internal error",
        "instance": "/v1/sms/dlr",
    }
    ((event, fields),) = logged.lines
    assert event == "request failed: GET /v1/sms/dlr"
    assert (fields["route"], fields["error"]) == ("/v1/sms/dlr", "RuntimeError")
    assert "secret-reply-text" not in repr(fields)


async def test_other_requests_pass_the_lane_to_the_app(app: FastAPI) -> None:
    """The lane is the app's outermost layer, and answers nothing but receipts by GET."""
    assert isinstance(app.build_middleware_stack(), ReceiptLane)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://notifications") as c:
        inbound = await c.get("/v1/sms/dlrx", params=params())
        head = await c.head("/v1/sms/dlr", params=params())
    assert inbound.status_code == 404
    assert head.status_code == 405  # the route's methods are GET and POST


async def test_a_caller_not_allowed_is_refused_before_its_parameters_are_read(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone can reach the port: a query or body of any size is parsed only for the gateway."""

    def unread(*_: Any, **__: Any) -> Any:
        raise AssertionError("parameters read for a caller that is not allowed")

    monkeypatch.setattr(callbacks, "parse_qsl", unread)
    app.state.receipts = FakeWriter(lambda: "ok")
    by_get, by_post = await both_ways(app, params() | {"pad": "x" * 30_000}, "10.9.9.9")
    assert by_get.status_code == by_post.status_code == 403
    assert answer_of(by_get) == answer_of(by_post)


@pytest.mark.parametrize(
    ("reply", "kept"),
    [
        (
            "id:4711 sub:001 dlvrd:000 submit date:2612071000 done date:2612071001"
            " stat:UNDELIV err:001 text:【市第一人民医院】您的投诉已受理",
            "DLR 2: id:4711 sub:001 dlvrd:000 submit date:2612071000 done date:2612071001"
            " stat:UNDELIV err:001",
        ),
        ("stat:REJECTD err:0b TEXT:Zhang San, your appointment", "DLR 2: stat:REJECTD err:0b"),
        ("absent subscriber 用户不在服务区", "DLR 2: absent subscriber"),
        ("", "DLR 2:"),
    ],
)
async def test_a_receipts_reason_keeps_the_gateways_words_never_the_sms_it_quotes(
    app: FastAPI, reply: str, kept: str
) -> None:
    """An SMPP receipt quotes the SMS's first 20 characters after `text:`; the reason a failed
    message keeps, and its `sms.failed` event says, went to supervisors' screens and Kafka."""
    writer = FakeWriter(lambda: "ok")
    app.state.receipts = writer
    by_get, by_post = await both_ways(app, params(status="2") | {"reply": reply})
    assert by_get.text == by_post.text == "ok"
    assert [r.detail for r in writer.recorded] == [kept] * 2
