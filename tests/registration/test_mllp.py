"""The MLLP listener itself on a real socket: framing, several messages per connection,
allow-listed sources, TLS, and staying up whatever a client sends."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from registration.mllp import END, START, MllpServer, source_allowed


async def echo_ack(payload: bytes) -> bytes:
    return b"ACK:" + payload


async def exchange(port: int, *frames: bytes, ssl_ctx: ssl.SSLContext | None = None) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ssl_ctx)
    replies = []
    try:
        for f in frames:
            writer.write(f)
            await writer.drain()
            replies.append(await asyncio.wait_for(reader.readuntil(END), 5))
    finally:
        writer.close()
    return replies


async def reply_before_close(reader: asyncio.StreamReader) -> bytes:
    """What the server sent before closing (a reset counts as nothing sent)."""
    try:
        return await asyncio.wait_for(reader.read(), 5)
    except (ConnectionResetError, ssl.SSLError):
        return b""


@pytest.fixture
async def server() -> AsyncIterator[MllpServer]:
    srv = MllpServer(echo_ack, host="127.0.0.1", port=0, max_message_bytes=1000)
    await srv.start()
    yield srv
    await srv.stop()


async def test_messages_on_one_connection_are_answered_in_order(server: MllpServer) -> None:
    replies = await exchange(server.port, START + b"one" + END, b"junk" + START + b"two" + END)
    assert replies == [START + b"ACK:one" + END, START + b"ACK:two" + END]


async def test_oversized_message_closes_that_connection_only(server: MllpServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(START + b"x" * 5000)
    await writer.drain()
    assert await reply_before_close(reader) == b""  # closed by the server
    assert await exchange(server.port, START + b"ok" + END) == [START + b"ACK:ok" + END]


async def test_a_failing_handler_does_not_stop_the_listener() -> None:
    async def broken(payload: bytes) -> bytes:
        raise RuntimeError("boom")

    srv = MllpServer(broken, host="127.0.0.1", port=0)
    await srv.start()
    try:
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(START + b"x" + END)
            assert await reply_before_close(reader) == b""
            writer.close()
    finally:
        await srv.stop()


async def test_sources_outside_the_allow_list_are_refused() -> None:
    allowed = [ipaddress.ip_network("10.0.0.0/8")]
    srv = MllpServer(echo_ack, host="127.0.0.1", port=0, allowed=allowed)
    await srv.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(START + b"x" + END)
        assert await reply_before_close(reader) == b""
        writer.close()
    finally:
        await srv.stop()
    assert source_allowed("10.1.2.3", allowed)
    assert source_allowed("::ffff:10.1.2.3", allowed)
    assert not source_allowed("192.168.1.1", allowed)
    assert source_allowed("192.168.1.1", [])


def self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_listener_answers_tls_clients(tmp_path: Path) -> None:
    from registration.mllp import tls_context

    cert, key = self_signed(tmp_path)
    srv = MllpServer(
        echo_ack, host="127.0.0.1", port=0, ssl_context=tls_context(str(cert), str(key))
    )
    await srv.start()
    try:
        client = ssl.create_default_context(cafile=str(cert))
        replies = await exchange(srv.port, START + b"secret" + END, ssl_ctx=client)
        assert replies == [START + b"ACK:secret" + END]
        # a plain-text client gets nothing
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(START + b"plain" + END)
        assert START + b"ACK" not in await reply_before_close(reader)
        writer.close()
    finally:
        await srv.stop()


async def test_pipelined_frames_are_handed_over_together_and_answered_in_order() -> None:
    groups: list[list[bytes]] = []

    async def many(payloads: list[bytes]) -> list[bytes]:
        groups.append(payloads)
        await asyncio.sleep(0.05)  # frames sent meanwhile form the next group
        return [b"ACK:" + p for p in payloads]

    srv = MllpServer(echo_ack, host="127.0.0.1", port=0, handle_many=many, max_group=3)
    await srv.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"".join(START + str(n).encode() + END for n in range(7)))
        await writer.drain()
        replies = [await asyncio.wait_for(reader.readuntil(END), 5) for _ in range(7)]
        writer.close()
    finally:
        await srv.stop()
    assert replies == [START + b"ACK:" + str(n).encode() + END for n in range(7)]
    assert all(len(g) <= 3 for g in groups) and any(len(g) > 1 for g in groups)
