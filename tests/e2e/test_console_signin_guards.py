"""What the console's sign-in refuses and records, on the stack's real Keycloak and console
process: each test is a way in that was open, or a record that was missing (the audit of the
sign-in, CHANGELOG "Fixed")."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.test_console_signin import _console_db
from tests.integration.services import RunningService, running

pytestmark = pytest.mark.stack

PHISHING = "系统升级，请致电 010-12345678 核对工号和密码"


@pytest.fixture(scope="module")
def console(stack_config, keycloak) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "console", {}) as service:
        yield service


async def test_a_callback_link_with_an_error_description_shows_only_the_consoles_words(
    console: RunningService, keycloak: dict[str, str]
) -> None:
    """`/auth/callback?error=...&error_description=<a sentence>` put that sentence on the
    console's own page (its address, its style): a phishing page of the console's."""
    async with httpx.AsyncClient(base_url=console.url) as stranger:
        page = await stranger.get(
            "/auth/callback", params={"error": "x", "error_description": PHISHING}
        )
    assert page.status_code == 400 and PHISHING not in page.text
    # A sign-in this browser began, answered with an error by the provider: its sentence
    # for the code, the description only in the log.
    async with httpx.AsyncClient(base_url=console.url) as client:
        begun = await client.get("/login")
        state = httpx.URL(begun.headers["location"]).params["state"]
        page = await client.get("/auth/callback", params={
            "state": state, "error": "access_denied", "error_description": PHISHING})  # fmt: skip
    assert page.status_code == 400 and PHISHING not in page.text
    assert "登录被拒绝或已取消" in page.text
    assert PHISHING in console.log


async def test_an_oversized_return_address_is_not_stored(
    console: RunningService, keycloak: dict[str, str]
) -> None:
    """Every anonymous GET /login stores a row; its `next` was stored whatever its length."""
    kept, oversized = "/patients?q=" + "x" * 1900, "/patients?q=" + "x" * 12_000
    async with httpx.AsyncClient(base_url=console.url) as client:
        for target in (kept, oversized):
            assert (await client.get("/login", params={"next": target})).status_code == 303
    async with _console_db(keycloak) as conn:
        rows = await conn.fetch("SELECT next_path FROM sign_ins ORDER BY created_at DESC LIMIT 2")
    assert [r["next_path"] for r in rows] == ["/", kept]
