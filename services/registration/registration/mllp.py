"""An MLLP listener (`0x0B <message> 0x1C 0x0D`), limited to allow-listed sources, with TLS
when a certificate is configured. Each connection's messages are answered in order; a sender
that waits for each ACK gets one message handled at a time, as HL7 original mode expects,
and one that pipelines has what it already sent handled as a group (see `handle_many`).

What one peer can take is bounded: connections per source address, bytes per frame (a frame
over the limit is answered AR, by `reject_oversized`, and the connection closed: see
mllp_frames.py), time between frames (idle), time to send a frame or take the ACKs (read).
An empty allow-list refuses everyone: a listener is opened to sources on purpose.

The listener never dies of a message: whatever `handle` raises is logged and the connection
closed; the server keeps accepting.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Sequence

import structlog
from prometheus_client import Counter

from registration.mllp_frames import END, START, FrameReader, Oversized, frame

log = structlog.get_logger(__name__)

__all__ = ["END", "START", "MllpServer", "frame", "source_allowed", "tls_context"]

MLLP_CONNECTIONS = Counter(
    "registration_mllp_connections_total", "MLLP connections, by outcome", ["outcome"]
)
# Every outcome's series from the start at 0: Prometheus's increase() cannot count a series'
# first sample, so the first refused or timed-out connection would not show (issue 20).
for _outcome in ("accepted", "refused", "too_many", "timed_out", "oversized"):
    MLLP_CONNECTIONS.labels(_outcome)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
HandleMessage = Callable[[bytes], Awaitable[bytes]]
HandleMessages = Callable[[list[bytes]], Awaitable[list[bytes]]]
# The answer (an AR) to a frame cut off at the limit: (its first bytes, the limit) -> ACK.
RejectOversized = Callable[[bytes, int], bytes]
_LINGER_S = 2.0  # after the AR to an oversized frame: time for the peer to read it


class _Closed:
    """In the frame queue: the sender closed the connection."""


_CLOSED = _Closed()
Item = bytes | Oversized | BaseException | _Closed


def source_allowed(host: str, allowed: Sequence[Network]) -> bool:
    """Whether `host` is in one of the `allowed` networks; nobody is when there are none."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in allowed)


def tls_context(
    cert: str | None, key: str | None, client_ca: str | None = None
) -> ssl.SSLContext | None:
    """The listener's TLS (None: plain TCP). With `client_ca`, a client must present a
    certificate that CA signed (mutual TLS): the sender's identity, not only its address."""
    if not cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class MllpServer:
    def __init__(
        self,
        handle: HandleMessage,
        *,
        host: str,
        port: int,
        allowed: Sequence[Network] = (),
        ssl_context: ssl.SSLContext | None = None,
        max_message_bytes: int = 262_144,
        reject_oversized: RejectOversized | None = None,
        idle_timeout_s: float = 300.0,
        read_timeout_s: float = 30.0,
        max_connections_per_source: int = 8,
        handle_many: HandleMessages | None = None,
        max_group: int = 1,
    ) -> None:
        self._handle = handle
        self._handle_many = handle_many
        self._max_group = max(1, max_group)
        self._host = host
        self._port = port
        self._allowed = list(allowed)
        self._ssl = ssl_context
        self._max = max_message_bytes
        self._reject_oversized = reject_oversized
        self._idle = idle_timeout_s
        self._read = read_timeout_s
        self._max_per_source = max_connections_per_source
        self._per_source: Tally[str] = Tally()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._client,
            self._host,
            self._port,
            ssl=self._ssl,
            ssl_handshake_timeout=self._read if self._ssl else None,
        )
        log.info("MLLP listening", port=self.port, tls=self._ssl is not None)
        if not self._allowed:
            log.warning(
                "MLLP allow-list empty: every connection is refused "
                "(REGISTRATION_MLLP_ALLOWED_SOURCES)"
            )

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 5)
        self._server = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        source = str((writer.get_extra_info("peername") or ("", 0))[0])
        counted = False
        try:
            if not source_allowed(source, self._allowed):
                MLLP_CONNECTIONS.labels("refused").inc()
                log.warning("MLLP connection from a source not allowed", source=source)
                return
            if self._per_source[source] >= self._max_per_source:
                MLLP_CONNECTIONS.labels("too_many").inc()
                log.warning("MLLP connections over the limit for a source", source=source,
                            limit=self._max_per_source)  # fmt: skip
                return
            self._per_source[source] += 1
            counted = True
            MLLP_CONNECTIONS.labels("accepted").inc()
            await self._serve(reader, writer)
        except TimeoutError:
            MLLP_CONNECTIONS.labels("timed_out").inc()
        except asyncio.CancelledError:
            pass  # stop(): the task ends here, closing its connection
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except Exception:
            log.exception("MLLP connection failed")
        finally:
            if counted:
                self._per_source[source] -= 1
                if not self._per_source[source]:
                    del self._per_source[source]
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer frames in order. Frames a sender pipelines (writes before reading the ACKs)
        are handed over together, up to `max_group`, so they can share one commit."""
        frames: asyncio.Queue[Item] = asyncio.Queue(self._max_group)
        reading = asyncio.create_task(self._read_frames(reader, frames))
        try:
            while True:
                group, last = await self._next_group(frames)
                if group:
                    await self._send(writer, b"".join(frame(r) for r in await self._answer(group)))
                if isinstance(last, Oversized):
                    await self._refuse_oversized(reader, writer, last)
                    return
                if isinstance(last, BaseException):
                    raise last
                if last is _CLOSED:
                    return
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading

    async def _next_group(self, frames: asyncio.Queue[Item]) -> tuple[list[bytes], Item | None]:
        """The frames waiting (at least one is awaited), up to `max_group`, and what ended the
        group when it was not a frame: the end of the stream, an error or an oversized frame."""
        group: list[bytes] = []
        item = await frames.get()
        while isinstance(item, bytes):
            group.append(item)
            if len(group) >= self._max_group or frames.empty():
                return group, None
            item = frames.get_nowait()
        return group, item

    async def _read_frames(self, reader: asyncio.StreamReader, frames: asyncio.Queue[Item]) -> None:
        frames_of = FrameReader(
            reader, limit=self._max, idle_timeout_s=self._idle, read_timeout_s=self._read
        )
        while True:
            try:
                item = await frames_of.next()
            except Exception as exc:  # idle, too slow, reset: ends the connection
                await frames.put(exc)
                return
            await frames.put(_CLOSED if item is None else item)
            if not isinstance(item, bytes):
                return

    async def _refuse_oversized(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, item: Oversized
    ) -> None:
        """AR for the frame, then the connection closed cleanly: our side shut, and what the
        peer still sends read and dropped for a moment, so the close does not reset the
        connection (which could drop the AR before the peer reads it)."""
        MLLP_CONNECTIONS.labels("oversized").inc()
        log.warning("MLLP message over the size limit, closing", limit=self._max)
        if self._reject_oversized is None:
            return
        await self._send(writer, frame(self._reject_oversized(item.head, self._max)))
        if writer.can_write_eof():
            writer.write_eof()
        with contextlib.suppress(TimeoutError, ConnectionError, ssl.SSLError):
            async with asyncio.timeout(_LINGER_S):
                while await reader.read(65_536):
                    pass

    async def _send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        """Write ACKs; a peer that does not read them within the read timeout is dropped."""
        writer.write(data)
        async with asyncio.timeout(self._read):
            await writer.drain()

    async def _answer(self, group: list[bytes]) -> list[bytes]:
        if self._handle_many is not None and len(group) > 1:
            responses = await self._handle_many(group)
            if len(responses) != len(group):
                raise RuntimeError("handle_many must answer every message")
            return responses
        return [await self._handle(payload) for payload in group]
