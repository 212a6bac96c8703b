"""Failpoints for the fault-injection tests: `HOSPITAL_FAILPOINTS=outbox.before_publish=kill`.

A failpoint does nothing unless its name is listed in the variable, which production never
sets. `kill` sends SIGKILL to this process, exactly like `kill -9` from outside, but at a
precise point (for example between the database commit and the Kafka publish). `transient`
raises a `ConnectionResetError` there, which the service treats as the database or broker
being away: it retries for as long as the failpoint stays.

`HOSPITAL_FAILPOINTS_FILE=<path>` names a file read at every failpoint, holding the same
`name=action` list: a test switches a failpoint on and off in a running process by writing
the file (and gets a process that recovers by itself once it is emptied).

Two more make a consumer's handler fail for the events whose id contains a marker, so the
consumer's retry and dead-letter path runs in a real service on the real stack:
`handler.fail_once=<marker>` raises the first time such an event is handled (a transient
failure: the retry succeeds), `handler.fail_always=<marker>` raises every time (dead-lettered
after the service's `MAX_HANDLER_ATTEMPTS`). Unset, the handlers are not even wrapped.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog

log = structlog.get_logger(__name__)
Handler = TypeVar("Handler", bound=Callable[..., Awaitable[None]])


def _configured() -> dict[str, str]:
    raw = os.environ.get("HOSPITAL_FAILPOINTS", "")
    path = os.environ.get("HOSPITAL_FAILPOINTS_FILE")
    if path:
        try:
            with open(path) as fh:
                raw += "," + fh.read().replace("\n", ",")
        except FileNotFoundError:
            pass
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {name.strip(): action.strip() for name, action in pairs}


def failpoint(name: str) -> None:
    action = _configured().get(name)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "transient":
        raise ConnectionResetError(f"failpoint {name}: transient failure")


class FailpointError(RuntimeError):
    """The failure a `handler.*` failpoint injects (a handler bug, not a transient error)."""


def failing_handler(handle: Handler, *, batch: bool) -> Handler:
    """`handle`, raising FailpointError for the events the `handler.*` failpoints name; `handle`
    itself when none is configured. `batch`: it takes (conn, events), else (conn, event)."""
    configured = _configured()
    once, always = configured.get("handler.fail_once"), configured.get("handler.fail_always")
    if not once and not always:
        return handle
    failed_once: set[str] = set()

    def check(event_id: str) -> None:
        if always and always in event_id:
            log.warning("failpoint raised", failpoint="handler.fail_always", event_id=event_id)
            raise FailpointError(f"failpoint handler.fail_always on event {event_id}")
        if once and once in event_id and event_id not in failed_once:
            failed_once.add(event_id)
            log.warning("failpoint raised", failpoint="handler.fail_once", event_id=event_id)
            raise FailpointError(f"failpoint handler.fail_once on event {event_id}")

    async def wrapped(conn: Any, events: Any) -> None:
        for event in events if batch else [events]:
            check(event.id)
        await handle(conn, events)

    return wrapped  # type: ignore[return-value]
