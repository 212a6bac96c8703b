"""How many sign-ins one address may begin (console/throttle.py): the token bucket with a
clock of the test's, and `/login` and the callback of the app in this process. Over real HTTP
(uvicorn's client address): tests/e2e/test_console_login_throttle.py."""

from __future__ import annotations

from console.throttle import AddressBuckets
from tests.console.in_process import console


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_gets_a_minutes_worth_at_once_then_the_rate() -> None:
    clock = Clock()
    buckets = AddressBuckets(3, clock=clock)
    assert [buckets.take("10.0.0.1") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("10.0.0.1") == 20.0  # 3 a minute: the next in 20 s
    assert buckets.take("10.0.0.2") == 0  # another address has its own
    clock.now += 20
    assert buckets.take("10.0.0.1") == 0
    assert buckets.take("10.0.0.1") == 20.0
    clock.now += 3600  # a quiet hour fills the bucket, no more
    assert [buckets.take("10.0.0.1") for _ in range(4)] == [0, 0, 0, 20.0]


def test_a_refused_request_takes_nothing_and_few_addresses_are_kept() -> None:
    clock = Clock()
    buckets = AddressBuckets(1, max_keys=2, clock=clock)
    assert buckets.take("a") == 0
    assert buckets.take("a") == buckets.take("a") == 60.0  # hammering does not push it back
    buckets.take("b")
    buckets.take("c")  # "a", unseen longest, is forgotten
    assert buckets.take("a") == 0


def test_login_and_callback_past_the_rate_answer_429_with_retry_after_in_the_pages_language() -> (
    None
):
    app = console()
    settings = app.client.app.state.settings  # type: ignore[attr-defined]
    app.client.app.state.settings = settings.model_copy(update={"login_rate_per_minute": 2})  # type: ignore[attr-defined]
    assert [app.client.get("/login").status_code for _ in range(2)] == [303, 303]
    refused = app.client.get("/login")
    assert refused.status_code == 429 and refused.headers["retry-after"] == "30"
    assert "登录请求过于频繁" in refused.text and "no-store" in refused.headers["cache-control"]
    app.client.cookies.set("console_lang", "en")
    assert "Too many sign-ins" in app.client.get("/login").text
    # the callback counts apart: a refused one does not begin to look at its state
    answers = [
        app.client.get("/auth/callback", params={"state": "s"}).status_code for _ in range(3)
    ]
    assert answers == [400, 400, 429]
