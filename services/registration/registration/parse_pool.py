"""The parse pool: HL7 messages are read (parsed, checked and mapped, registration/hl7_prepare.py)
away from the event loop when they are large, so one cannot stall the service's REST ingest,
its other MLLP connections or `/healthz`. Before, four 900 KB messages of 150,000 repetitions
held the loop for 23 s; one /healthz waited 12 s.

Small messages (`inline_bytes`, 4 KiB: a typical ADT of 1-3 KB reads in about 0.5 ms) are read
on the loop, a slice at a time: handing each to a worker cost more than reading it.

Processes rather than threads: parsing is pure Python and holds the GIL, which a thread
shares with the event loop. Measured with those four messages on the real service while
/healthz was polled every 20 ms (2 shared cores, load 10-20): threads, healthz median
19-36 ms, p95 70-131 ms, max 147-397 ms (3 runs); processes, median 7-13 ms, p95 26-47 ms,
max 71-278 ms (4 runs). A worker takes about 50 MB; one is started with the service, the
others when needed.

Concurrency is bounded by the number of workers (`REGISTRATION_HL7_PARSE_WORKERS`); messages
wait their turn in the executor's queue, which the MLLP listener bounds (a group per
connection, connections per source). A worker that dies (killed, out of memory) fails only
the messages it held (AR: resend) and the pool is replaced. Workers die with the service
(Linux: PR_SET_PDEATHSIG), so a killed service leaves none behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Literal

import structlog
from prometheus_client import Gauge

from hospital_shared.logging import keep_library_quotes_out
from registration.hl7_messages import APPLICATION_ERROR, Hl7Error
from registration.hl7_prepare import Hl7Rules, Prepared, Rejected, header_of, prepare_all

log = structlog.get_logger(__name__)

HL7_PARSING = Gauge(
    "registration_hl7_messages_parsing",
    "HL7 messages being read (parsed and mapped), on the event loop or in the parse pool",
)

PoolKind = Literal["process", "thread"]
_PR_SET_PDEATHSIG = 1


def _init_worker() -> None:
    """In each worker process: die with the service, leave Ctrl-C to it, and keep the `hl7`
    library's log lines (which quote fields: names) out of stderr."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_library_quotes_out()
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() == 1:  # the service died before the line above
                os._exit(0)


def _pid() -> int:
    return os.getpid()


class ParsePool:
    """Reads messages in order: small ones on the event loop, the rest in worker processes."""

    def __init__(
        self,
        rules: Hl7Rules,
        *,
        workers: int = 2,
        kind: PoolKind = "process",
        inline_bytes: int = 4096,
    ) -> None:
        self._rules = rules
        self._workers = max(1, workers)
        self._kind = kind
        self._inline_bytes = inline_bytes
        self._executor: concurrent.futures.Executor | None = None

    def _new_executor(self) -> concurrent.futures.Executor:
        if self._kind == "thread":
            return concurrent.futures.ThreadPoolExecutor(self._workers, "hl7-parse")
        return concurrent.futures.ProcessPoolExecutor(
            self._workers,
            # spawn, not fork: the service has threads (a fork could copy a held lock)
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
        )

    async def start(self) -> None:
        """Start the pool and one worker (its imports take a second: not on a message)."""
        self._executor = self._new_executor()
        await asyncio.get_running_loop().run_in_executor(self._executor, _pid)
        log.info("HL7 parse pool started", kind=self._kind, workers=self._workers)

    async def stop(self) -> None:
        """Stop the workers once done with what they hold (waited for in a thread, so the
        loop finishes its other work meanwhile)."""
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    async def __call__(self, payloads: Sequence[bytes]) -> list[Prepared | Rejected]:
        """Each message read, in order. Runs of small messages are read here, a slice of at
        most `inline_bytes` at a time with the loop free in between; larger ones in the pool
        (the hop to a worker costs more than reading a typical message)."""
        results: list[Prepared | Rejected] = []
        HL7_PARSING.inc(len(payloads))
        try:
            for run, here in self._runs(payloads):
                if here:
                    results += prepare_all(run, self._rules)
                    await asyncio.sleep(0)
                else:
                    results += await self._in_pool(run)
                HL7_PARSING.dec(len(run))
        finally:
            HL7_PARSING.dec(len(payloads) - len(results))
        return results

    def _runs(self, payloads: Sequence[bytes]) -> Iterator[tuple[list[bytes], bool]]:
        """Consecutive messages as (messages, read here?): small ones up to `inline_bytes`
        together, large ones together."""
        run: list[bytes] = []
        here, size = True, 0
        for payload in payloads:
            small = len(payload) <= self._inline_bytes
            if run and (small != here or (small and size + len(payload) > self._inline_bytes)):
                yield run, here
                run, size = [], 0
            run.append(payload)
            here, size = small, size + len(payload)
        if run:
            yield run, here

    async def _in_pool(self, payloads: list[bytes]) -> list[Prepared | Rejected]:
        """AR (resend) for all of them when the worker died."""
        if self._executor is None:
            self._executor = self._new_executor()
        executor = self._executor
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, prepare_all, payloads, self._rules)
        except BrokenProcessPool:
            log.error("an HL7 parse worker died; starting a new pool", messages=len(payloads))
            if self._executor is executor:
                executor.shutdown(wait=False, cancel_futures=True)
                self._executor = self._new_executor()
            error = Hl7Error("AR", APPLICATION_ERROR, "could not read the message; resend later")
            return [Rejected(header_of(p, self._rules), error) for p in payloads]
