"""Session fixtures: the real native stack (Kafka, PostgreSQL, Kannel, Prometheus) started by
the same code as `make up`, on the test ports and in `.stack-test/`."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent

# Settings built inside the test process (unit tests) are a test stack's: without ENV a service
# is production and refuses the development tokens. Processes started through devstack get
# ENV from the stack environment; the tests of the production check set their own.
os.environ.setdefault("ENV", "test")


# Folders of tests on a real stack, and fixtures of one (the run's, or a test's own: the
# lifecycle tests'): a test that uses one is a stack test wherever its file is.
STACK_FOLDERS = {"integration", "e2e", "fuzz", "stack", "chaos"}
STACK_FIXTURES = {"stack_config", "stack_env", "keycloak", "browser", "raw_db", "own_stack"}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by the marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `make test` runs `-m stack` and `-m "not stack"` as two pytest processes side by side:
    # a test on the stack left unmarked would start a second stack beside the first.
    for item in items:
        folders = set(item.path.relative_to(REPO).parts[:-1])
        if STACK_FOLDERS & folders or STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)


@pytest.fixture(scope="session")
def stack_config():  # type: ignore[no-untyped-def]
    from devstack import StackConfig

    return StackConfig.for_tests(REPO)


@pytest.fixture(scope="session")
def stack_env(stack_config) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    """Infrastructure only; tests start the service processes they need themselves."""
    import devstack

    devstack.down(stack_config)  # a previous run's stack, also what its pid files lost
    # Every run starts from empty Kafka and PostgreSQL data, so tests see only their own events.
    devstack.wipe(stack_config)
    env = devstack.up(stack_config, with_services=False)  # stops what it started if it fails
    yield env
    if not os.environ.get("KEEP_STACK"):
        devstack.down(stack_config)


@pytest.fixture(scope="module")
async def raw_db(stack_env: dict[str, str]) -> AsyncIterator[Any]:
    """A plain connection to the stack's database, as the services' role (DATABASE_URL): what
    anyone holding a dump or a psql prompt sees (the encryption-at-rest tests)."""
    import asyncpg

    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def keycloak(stack_config, stack_env) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The stack's Keycloak, ready (`devstack.up` started it in the background): the stack
    environment, which names it (KEYCLOAK_URL, OIDC_ISSUER_URL, clients, dev users)."""
    from devstack import keycloak as keycloak_stack

    keycloak_stack.wait_ready(stack_config)
    return stack_env  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
async def browser():  # type: ignore[no-untyped-def]
    """Debian's Chromium under Playwright, one for the session (tests/browser.py)."""
    from tests.browser import launch

    async with launch() as chromium:
        yield chromium
