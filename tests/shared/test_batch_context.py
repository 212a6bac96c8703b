"""What a batch's handling starts keeps no batch: FastStream holds the message being handled
(the batch's records, bodies and headers) in a context variable, and a connection, task or
timer started during the handling copies the context it was started in. Each kept its whole
batch alive for as long as it lived (7-12 batches of 1,000 records in a notifications drain;
its peak RSS 147.7 -> 130.1 MB with the fix, issue 22). The runtime handles each batch in a copy of the context without the
message (`runtime.without_value`), on the real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from pathlib import Path
from typing import Any

from faststream.message import StreamMessage

from hospital_shared.runtime import ServiceRuntime, without_value
from hospital_shared.settings import service_settings_class
from tests import factories
from tests.kafka_tools import publish

Settings = service_settings_class("probe", 8999)


def _messages_in(ctx: contextvars.Context) -> list[Any]:
    return [v for v in ctx.values() if isinstance(v, StreamMessage)]


async def test_what_a_batch_starts_holds_no_message_of_the_batch(
    stack_env: dict[str, str], monkeypatch: Any, tmp_path: Path
) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"):
        monkeypatch.setenv(name, stack_env[name])
    monkeypatch.setenv("ENV", "test")
    monkeypatch.setenv("PROBE_CONSUMER_GROUP", f"probe-ctx-{uuid.uuid4().hex[:8]}")
    runtime = ServiceRuntime(Settings(), migrations=tmp_path)
    captured: list[contextvars.Context] = []
    seen = asyncio.Event()
    marker = factories.registration(990_001)

    async def handle_batch(conn: Any, events: Any) -> None:
        # what a reader callback, task or timer started here would copy
        captured.append(contextvars.copy_context())
        if any(e.id == marker["id"] for e in events):
            seen.set()

    async def handle(conn: Any, event: Any) -> None:
        await handle_batch(conn, [event])

    runtime.consume(
        "hospital.registrations.v1", handler_name="ctx", handle=handle, handle_batch=handle_batch
    )
    await runtime.start()
    try:
        await publish(
            stack_env["KAFKA_BOOTSTRAP_SERVERS"],
            "hospital.registrations.v1",
            [(marker["subject"], factories.to_bytes(marker))],
        )
        await asyncio.wait_for(seen.wait(), timeout=60)
    finally:
        await runtime.stop()
    assert captured
    assert [m for ctx in captured for m in _messages_in(ctx)] == []


def test_without_value_clears_only_the_variables_holding_it() -> None:
    held, other = contextvars.ContextVar("held"), contextvars.ContextVar("other")
    batch = object()
    held.set(batch)
    other.set("kept")
    ctx = without_value(batch)
    assert ctx[held] is None
    assert ctx[other] == "kept"
    assert held.get() is batch  # the caller's own context is as it was
