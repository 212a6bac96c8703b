"""The LISTEN loops (a NOTIFY wakes the outbox relay, the SMS dispatcher) on the real
PostgreSQL: each holds one pooled connection while it listens and gives it back when stopped,
also when `remove_listener` fails (a connection broken meanwhile), and then listening no more. The dispatcher's own loop
skipped the release then: each stop or reconnect leaked a connection of the pool."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest

from hospital_shared import db
from hospital_shared.outbox import OutboxRelay
from notifications.dispatcher import Dispatcher
from tests.kafka_tools import eventually


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    one = await db.create_pool(stack_env["DATABASE_URL"], schema="public", min_size=1, max_size=1)
    yield one
    one.terminate()  # close() would wait forever for a connection a loop never gave back


async def no_publish(records: Any) -> None:
    return None


def dispatcher_listening(pool: asyncpg.Pool) -> Coroutine[Any, Any, None]:
    settings = SimpleNamespace(restore_gateway_check_s=0)
    return Dispatcher(pool, None, settings, None, None).listen()  # type: ignore[arg-type]


def relay_listening(pool: asyncpg.Pool) -> Coroutine[Any, Any, None]:
    return OutboxRelay(pool, no_publish, service="test")._listen()


LISTENERS: dict[str, Callable[[asyncpg.Pool], Coroutine[Any, Any, None]]] = {
    "sms-dispatcher": dispatcher_listening,
    "outbox-relay": relay_listening,
}


@pytest.mark.parametrize("listener", list(LISTENERS))
async def test_a_listen_loop_gives_its_connection_back_when_remove_listener_fails(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch, listener: str
) -> None:
    task = asyncio.create_task(LISTENERS[listener](pool))
    await eventually(lambda: pool.get_idle_size() == 0)  # listening on the pool's only one

    async def broken(*_: Any) -> None:
        raise asyncpg.InterfaceError("connection is closed")

    monkeypatch.setattr(asyncpg.connection.Connection, "remove_listener", broken)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert pool.get_idle_size() == 1, "the listening connection was not given back"
    # and it listens no more: the pool's reset (db.keep_session) does not UNLISTEN
    async with pool.acquire() as conn:
        assert await conn.fetch("SELECT pg_listening_channels()") == []
