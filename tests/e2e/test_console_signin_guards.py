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


@pytest.fixture(scope="module")
def console(stack_config, keycloak) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "console", {}) as service:
        yield service


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
