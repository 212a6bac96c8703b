"""An MLLP listener (`0x0B <message> 0x1C 0x0D`), limited to allow-listed sources, with TLS
when a certificate is configured. Each connection's messages are answered in order; a sender
that waits for each ACK gets one message handled at a time, as HL7 original mode expects,
and one that pipelines has what it already sent handled as a group (see `handle_many`).

The listener never dies of a message: whatever `handle` raises is logged and the connection
closed; the server keeps accepting.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
from collections.abc import Awaitable, Callable, Sequence

import structlog
from prometheus_client import Counter

log = structlog.get_logger(__name__)

START, END = b"\x0b", b"\x1c\x0d"

MLLP_CONNECTIONS = Counter(
    "registration_mllp_connections_total", "MLLP connections, by outcome", ["outcome"]
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
HandleMessage = Callable[[bytes], Awaitable[bytes]]
HandleMessages = Callable[[list[bytes]], Awaitable[list[bytes]]]


def frame(payload: bytes) -> bytes:
    return START + payload + END


def source_allowed(host: str, allowed: Sequence[Network]) -> bool:
    if not allowed:
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in allowed)


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if not cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
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
        max_message_bytes: int = 1_048_576,
        idle_timeout_s: float = 300.0,
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
        self._idle = idle_timeout_s
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
            limit=self._max + len(END),
        )
        log.info("MLLP listening", port=self.port, tls=self._ssl is not None)

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
        peer = writer.get_extra_info("peername") or ("", 0)
        try:
            if not source_allowed(str(peer[0]), self._allowed):
                MLLP_CONNECTIONS.labels("refused").inc()
                log.warning("MLLP connection from a source not allowed", source=str(peer[0]))
                return
            MLLP_CONNECTIONS.labels("accepted").inc()
            await self._serve(reader, writer)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except asyncio.LimitOverrunError:
            MLLP_CONNECTIONS.labels("oversized").inc()
            log.warning("MLLP message over the size limit, closing", limit=self._max)
        except Exception:
            log.exception("MLLP connection failed")
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer frames in order. Frames a sender pipelines (writes before reading the ACKs)
        are handed over together, up to `max_group`, so they can share one commit."""
        frames: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(self._max_group)
        reading = asyncio.create_task(self._read_frames(reader, frames))
        try:
            while True:
                group: list[bytes] = []
                end: BaseException | None = None
                closed = False
                item = await frames.get()
                while True:
                    if item is None:
                        closed = True
                    elif isinstance(item, BaseException):
                        end = item
                    else:
                        group.append(item)
                    if closed or end or len(group) >= self._max_group or frames.empty():
                        break
                    item = frames.get_nowait()
                if group:
                    responses = await self._answer(group)
                    writer.write(b"".join(frame(r) for r in responses))
                    await writer.drain()
                if end is not None:
                    raise end
                if closed:
                    return
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading

    async def _read_frames(
        self, reader: asyncio.StreamReader, frames: asyncio.Queue[bytes | BaseException | None]
    ) -> None:
        while True:
            try:
                async with asyncio.timeout(self._idle):
                    block = await reader.readuntil(END)
            except asyncio.IncompleteReadError:
                await frames.put(None)  # the sender closed the connection
                return
            except Exception as exc:  # oversized, idle, reset: ends the connection
                await frames.put(exc)
                return
            start = block.find(START)
            await frames.put(block[start + 1 : -len(END)] if start >= 0 else block[: -len(END)])

    async def _answer(self, group: list[bytes]) -> list[bytes]:
        if self._handle_many is not None and len(group) > 1:
            responses = await self._handle_many(group)
            if len(responses) != len(group):
                raise RuntimeError("handle_many must answer every message")
            return responses
        return [await self._handle(payload) for payload in group]
