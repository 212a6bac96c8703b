"""Running a service's HTTP app (and with it its consumers and relay) under uvicorn, so that a
stop signal is obeyed at any moment, start-up included.

Uvicorn's own SIGTERM/SIGINT handler only marks the server to stop, and the server looks at the
mark once the app's start-up (its lifespan) has finished. A service whose database or broker is
away at start retries until they answer: it ignored `docker stop` or a rollout's SIGTERM for
as long (once some 10 minutes) and was killed instead. Here the lifespan's start-up races the
signal: when the signal comes first, the start is cancelled wherever it waits, what it had
opened is closed, and uvicorn goes on to its ordinary shutdown, which ends the process with the
signal (as uvicorn does after any graceful stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable
from types import FrameType
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI

log = structlog.get_logger(__name__)

Lifespan = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[Any]]


class StopRequest:
    """Set by the signal handler, awaited by the start-up. The handler runs between two
    bytecodes of the event loop's own thread, so it hands the event to the loop with
    `call_soon_threadsafe` (which also wakes a loop asleep in `select`)."""

    def __init__(self) -> None:
        self.requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def bind(self) -> asyncio.Event:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        if self.requested:
            self._event.set()
        return self._event

    def request(self) -> None:
        self.requested = True
        if self._loop is not None and self._event is not None:
            self._loop.call_soon_threadsafe(self._event.set)


def interruptible(inner: Lifespan, stop: StopRequest) -> Lifespan:
    """`inner` (the app's lifespan, every service's additions included), with its start-up
    abandoned when `stop` is requested first."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        runtime = app.state.runtime
        stopping = asyncio.ensure_future(stop.bind().wait())
        async with contextlib.AsyncExitStack() as stack:
            starting = asyncio.ensure_future(stack.enter_async_context(inner(app)))
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if starting.done():
                yield starting.result()  # started (or raised: start-up failed as before)
                return
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            await runtime.stop()  # what the start had opened: pool, producer
            log.info("stopped during start-up", service=runtime.name)
            yield None  # uvicorn then sees its stop mark and shuts down at once

    return lifespan


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, stop: StopRequest) -> None:
        super().__init__(config)
        self._stop = stop

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._stop.request()


def run(app: FastAPI, *, host: str, port: int) -> None:
    """Serve `app` until a signal stops it, during start-up as well as after."""
    stop = StopRequest()
    app.router.lifespan_context = interruptible(app.router.lifespan_context, stop)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    server = _Server(config, stop)
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn raises a SIGINT again once stopped: no traceback
        raise SystemExit(128 + signal.SIGINT) from None
    if not server.started:
        raise SystemExit(3)  # uvicorn.run's answer to a failed start-up
