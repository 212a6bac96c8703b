"""MLLP framing off a stream, without a listener."""

from __future__ import annotations

import asyncio

from registration.mllp_frames import END, START, FrameReader, Oversized


async def frames_of(*chunks: bytes, limit: int = 1000) -> tuple[list[bytes | Oversized], int]:
    stream = asyncio.StreamReader()
    for chunk in chunks:
        stream.feed_data(chunk)
    stream.feed_eof()
    reader = FrameReader(stream, limit=limit, idle_timeout_s=1, read_timeout_s=1)
    read: list[bytes | Oversized] = []
    while (item := await reader.next()) is not None:
        read.append(item)
    return read, reader.aborted


async def test_a_frame_given_up_before_its_end_block_is_dropped_not_glued_to_the_next() -> None:
    # The sender aborted A mid-PV1 and began B: B alone is read, A is counted as aborted.
    read, aborted = await frames_of(
        START + b"MSH|A\rPID|1\rPV1|1|O|CA", START + b"MSH|B\rPID|2" + END
    )
    assert (read, aborted) == ([b"MSH|B\rPID|2"], 1)


async def test_a_given_up_frame_arriving_with_the_next_in_one_read_is_dropped_too() -> None:
    read, aborted = await frames_of(START + b"MSH|A\rPID|" + START + b"MSH|B" + END)
    assert (read, aborted) == ([b"MSH|B"], 1)


async def test_line_noise_between_frames_is_not_an_aborted_frame() -> None:
    read, aborted = await frames_of(START + b"MSH|A" + END + b"\r\n" + START + b"MSH|B" + END)
    assert (read, aborted) == ([b"MSH|A", b"MSH|B"], 0)


async def test_a_given_up_frame_does_not_count_against_the_next_ones_limit() -> None:
    read, aborted = await frames_of(
        START + b"x" * 900, START + b"MSH|B" + b"y" * 500 + END, limit=1000
    )
    assert (read, aborted) == ([b"MSH|B" + b"y" * 500], 1)
