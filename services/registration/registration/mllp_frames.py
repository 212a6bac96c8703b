"""MLLP framing (`0x0B <message> 0x1C 0x0D`) read off a stream with bounded memory and time.

A frame is never held past `limit` bytes (plus one read): a sender that goes on without an
end block is cut off there, with the frame's first bytes kept so its MSH can be answered.
Between frames the connection may stay quiet for the idle timeout; once a frame has begun,
it must be complete within the read timeout (a trickling sender cannot hold a connection).

A start block inside a frame means the sender gave the frame up and began another: what came
before it is dropped (counted and logged, never its content), so an aborted message is never
glued to the next one and answered, or stored, under its MSH-10.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)

START, END = b"\x0b", b"\x1c\x0d"
_CHUNK = 65_536
_HEAD = 4096  # kept of a frame over the limit: enough for its MSH segment


def frame(payload: bytes) -> bytes:
    return START + payload + END


@dataclass(frozen=True, slots=True)
class Oversized:
    """A frame cut off at the limit; `head` is its start (for the MSH)."""

    head: bytes


class FrameReader:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        *,
        limit: int,
        idle_timeout_s: float,
        read_timeout_s: float,
    ) -> None:
        self._reader = reader
        self._limit = limit
        self._idle = idle_timeout_s
        self._read = read_timeout_s
        self._buffer = bytearray()
        self._searched = 0  # where the search for END goes on from
        self.aborted = 0  # frames given up by the sender (a new start block before their end)

    async def next(self) -> bytes | Oversized | None:
        """The next frame's payload, an Oversized frame, or None at the end of the stream;
        TimeoutError when the sender is too slow."""
        while True:
            end = self._buffer.find(END, self._searched)
            if end >= 0:
                return self._take(end)
            self._drop_before_last_start()
            self._searched = max(0, len(self._buffer) - len(END) + 1)
            if len(self._buffer) > self._limit + len(START):
                return Oversized(self._payload(bytes(self._buffer[: _HEAD + 1])))
            begun = self._buffer.find(START) >= 0  # (line noise between frames is not)
            async with asyncio.timeout(self._read if begun else self._idle):
                chunk = await self._reader.read(_CHUNK)
            if not chunk:
                return None
            self._buffer += chunk

    def _take(self, end: int) -> bytes | Oversized:
        block = bytes(self._buffer[:end])
        del self._buffer[: end + len(END)]
        self._searched = 0
        payload = self._payload(block)
        return Oversized(payload[:_HEAD]) if len(payload) > self._limit else payload

    def _drop_before_last_start(self) -> None:
        """A frame still open when another starts was given up: only the newest is read on
        (and measured against the limit)."""
        last = self._buffer.rfind(START)
        if last > 0:
            self._note_aborted(bytes(self._buffer[:last]))
            del self._buffer[:last]

    def _payload(self, block: bytes) -> bytes:
        """What follows the last start block (bytes before the first are line noise, those
        between two an aborted frame: both dropped)."""
        start = block.rfind(START)
        if start < 0:
            return block
        self._note_aborted(block[:start])
        return block[start + 1 :]

    def _note_aborted(self, dropped: bytes) -> None:
        if START in dropped:
            self.aborted += 1
            log.warning(
                "MLLP frame without an end block dropped, a new frame began",
                dropped_bytes=len(dropped) - dropped.find(START) - 1,
            )
